//! Tests of request parsing and response encoding.
use super::*;

fn parse(text: &str) -> Result<(Value, Request), Rejected> {
    parse_request(text.as_bytes())
}

#[test]
fn requests_parse() {
    let (id, req) = parse(
        r#"{"v":1,"id":"a1","request":"fence","target":"node1","action":"off","timeout_ms":5000}"#,
    )
    .expect("valid");
    assert_eq!(id, Value::from("a1"));
    assert_eq!(
        req,
        Request::Fence {
            target: "node1".into(),
            action: Some(FenceAction::Off),
            timeout_ms: Some(5000),
            delay_ms: 0,
            requester: None,
        }
    );
    let (id, req) = parse(r#"{"request":"devices"}"#).expect("valid");
    assert_eq!((id, req), (Value::Null, Request::Devices {}));
    let (_, req) = parse(r#"{"id":3,"request":"history","target":"n1","limit":5}"#).expect("valid");
    assert_eq!(req.kind(), "history");
    let (_, req) = parse(
        r#"{"request":"register-level","target":{"by":"pattern","value":"^n"},"index":2,"devices":["a"]}"#,
    )
    .expect("valid");
    assert!(matches!(req, Request::RegisterLevel { index: 2, .. }));
    let (_, req) = parse(
        r#"{"request":"register-level","target":{"by":"attribute","value":{"name":"rack","value":"r1"}},"index":1,"devices":["a"]}"#,
    )
    .expect("valid");
    assert!(matches!(
        req,
        Request::RegisterLevel {
            target: TargetSelector::Attribute { .. },
            ..
        }
    ));
}

#[test]
fn malformed_requests_are_rejected_with_their_id() {
    let cases: &[(&str, ErrorCode, Value)] = &[
        ("", ErrorCode::BadRequest, Value::Null),
        ("{nope", ErrorCode::BadRequest, Value::Null),
        ("[1,2]", ErrorCode::BadRequest, Value::Null),
        (r#"{"id":7}"#, ErrorCode::BadRequest, Value::from(7)),
        (
            r#"{"id":7,"request":"explode"}"#,
            ErrorCode::BadRequest,
            Value::from(7),
        ),
        (
            r#"{"id":7,"request":"fence"}"#,
            ErrorCode::BadRequest,
            Value::from(7),
        ),
        (
            r#"{"id":7,"request":"fence","target":"n","bogus":1}"#,
            ErrorCode::BadRequest,
            Value::from(7),
        ),
        (
            r#"{"id":7,"request":"devices","x":1}"#,
            ErrorCode::BadRequest,
            Value::from(7),
        ),
        (
            r#"{"id":7,"request":"fence","target":"n","action":"cycle"}"#,
            ErrorCode::BadRequest,
            Value::from(7),
        ),
        (
            r#"{"id":7,"v":2,"request":"devices"}"#,
            ErrorCode::UnsupportedVersion,
            Value::from(7),
        ),
    ];
    for (text, code, id) in cases {
        let rejected = parse(text).expect_err(text);
        assert_eq!(rejected.error.code, *code, "{text}: {:?}", rejected.error);
        assert_eq!(&rejected.id, id, "{text}");
    }
}

#[test]
fn responses_and_events_encode() {
    let ok = Response::success(
        Value::from(1),
        &QueryResult {
            target: "n".into(),
            devices: vec!["d".into()],
            levels: Vec::new(),
            fenceable: None,
        },
    );
    assert_eq!(
        ok.to_line(),
        r#"{"v":1,"id":1,"ok":true,"result":{"devices":["d"],"levels":[],"target":"n"}}"#
    );
    let err = Response::failure(Value::Null, ApiError::new(ErrorCode::Unauthorized, "no"));
    assert_eq!(
        err.to_line(),
        r#"{"v":1,"id":null,"ok":false,"error":{"code":"unauthorized","message":"no"}}"#
    );
    let fence = FenceResult {
        op: OpId(4),
        target: "n".into(),
        action: FenceAction::Reboot,
        result: OpResult::Done {
            level: 1,
            devices: vec!["d".into()],
            warnings: Vec::new(),
        },
    };
    assert_eq!(
        serde_json::to_string(&fence).expect("json"),
        r#"{"op":4,"target":"n","action":"reboot","status":"done","level":1,"devices":["d"]}"#
    );
    let event = EventLine {
        v: 1,
        at: Moment(99),
        notice: Notice::Merged {
            op: OpId(1),
            request: crate::fencer::operation::RequestId(2),
            requester: "x".into(),
        },
    };
    let line = serde_json::to_string(&event).expect("json");
    assert_eq!(
        line,
        r#"{"v":1,"at":99,"event":"merged","op":1,"request":2,"requester":"x"}"#
    );
    let back: EventLine = serde_json::from_str(&line).expect("round trip");
    assert_eq!(back, event);
}

#[test]
fn secrets_are_recognised() {
    for p in [
        "password",
        "passwd",
        "snmp_priv_passwd",
        "community",
        "identity_file",
    ] {
        assert!(is_secret(p), "{p}");
    }
    for p in ["ip", "username", "port", "status_file"] {
        assert!(!is_secret(p), "{p}");
    }
}
