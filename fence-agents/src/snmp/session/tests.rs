use super::*;
use crate::snmp::usm::{AuthProtocol, PrivProtocol};
use std::collections::BTreeMap;
use std::thread;

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

/// A scripted v1/v2c agent on a loopback port: for each request it gets, `reply`
/// returns the datagrams to send back. Stops after `requests` requests.
fn fake_agent(
    requests: usize,
    reply: impl Fn(i64, &[u8], &Pdu) -> Vec<Vec<u8>> + Send + 'static,
) -> (u16, thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 65536];
        for _ in 0..requests {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let (version, community, pdu) = message::decode_community(&buf[..n]).unwrap();
            for datagram in reply(version, &community, &pdu) {
                socket.send_to(&datagram, from).unwrap();
            }
        }
    });
    (port, handle)
}

fn response(version: i64, community: &[u8], request: &Pdu, varbinds: Vec<(Oid, Value)>) -> Vec<u8> {
    let version = if version == 0 {
        Version::V1
    } else {
        Version::V2c
    };
    let pdu = Pdu {
        kind: PduType::Response,
        request_id: request.request_id,
        error_status: 0,
        error_index: 0,
        varbinds,
    };
    message::encode_community(version, community, &pdu)
}

fn community(version: Version, text: &str) -> Security {
    Security::Community {
        version,
        community: text.into(),
    }
}

fn open(port: u16, security: Security) -> Session {
    Session::open(
        "127.0.0.1",
        port,
        security,
        Duration::from_millis(200),
        Deadline::after(Duration::from_secs(2)),
    )
    .unwrap()
}

#[test]
fn answers_that_are_not_ours_are_ignored() {
    let (port, agent) = fake_agent(1, |v, c, req| {
        let good = response(
            v,
            c,
            req,
            vec![(req.varbinds[0].0.clone(), Value::Integer(1))],
        );
        // An answer to an earlier request, right community or not.
        let stale = Pdu::request(PduType::Response, req.request_id.wrapping_sub(1), vec![]);
        // The right request id inside a Get (not a Response).
        let not_a_response = Pdu::request(PduType::Get, req.request_id, vec![]);
        vec![
            message::encode_community(Version::V2c, c, &not_a_response),
            b"garbage".to_vec(),
            message::encode_community(Version::V2c, b"other", &stale),
            message::encode_community(Version::V2c, c, &stale),
            good,
        ]
    });
    let mut s = open(port, community(Version::V2c, "private"));
    let value = s
        .get(
            &oid("1.3.6.1.2.1.2.2.1.7.1"),
            Deadline::after(Duration::from_secs(2)),
        )
        .unwrap();
    assert_eq!(value, Value::Integer(1));
    agent.join().unwrap();
}

#[test]
fn a_silent_agent_times_out_at_the_deadline_after_retransmitting() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut s = open(port, community(Version::V2c, "wrong"));
    // The error kind and the sends counted by the silent peer are the checks (ignoring
    // the deadline would hang this test).
    let err = s
        .get(
            &oid("1.3.6.1.2.1.1.2.0"),
            Deadline::after(Duration::from_millis(1000)),
        )
        .unwrap_err();
    assert!(matches!(err, SnmpError::Timeout { .. }), "{err:?}");
    // 200 ms retransmit interval within 1000 ms: retransmitted (a second send at 200 ms),
    // never more than the 5 the interval allows (a loaded machine may wake late and
    // manage fewer).
    silent
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut sends = 0;
    while silent.recv(&mut buf).is_ok() {
        sends += 1;
    }
    assert!((2..=5).contains(&sends), "{sends} sends");
}

#[test]
fn a_closed_port_is_refused_quickly() {
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let mut s = open(port, community(Version::V1, "private"));
    // Refused (not a Timeout at the 3 s deadline) is the check: the first ICMP
    // port-unreachable ends the request.
    let err = s
        .get(
            &oid("1.3.6.1.2.1.1.2.0"),
            Deadline::after(Duration::from_secs(3)),
        )
        .unwrap_err();
    assert!(matches!(err, SnmpError::Refused { .. }), "{err:?}");
}

#[test]
fn missing_objects_in_v1_and_v2c() {
    let (port, agent) = fake_agent(2, |v, c, req| {
        let mut answer = Pdu {
            kind: PduType::Response,
            request_id: req.request_id,
            error_status: 0,
            error_index: 0,
            varbinds: req.varbinds.clone(),
        };
        if v == 0 {
            answer.error_status = error_status::NO_SUCH_NAME;
            answer.error_index = 1;
            return vec![message::encode_community(Version::V1, c, &answer)];
        }
        answer.varbinds[0].1 = Value::NoSuchInstance;
        vec![message::encode_community(Version::V2c, c, &answer)]
    });
    let target = oid("1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.99");
    let d = || Deadline::after(Duration::from_secs(2));
    let mut v1 = open(port, community(Version::V1, "private"));
    assert_eq!(
        v1.get(&target, d()).unwrap_err(),
        SnmpError::NoSuchObject(target.clone())
    );
    let mut v2 = open(port, community(Version::V2c, "private"));
    assert_eq!(
        v2.get(&target, d()).unwrap_err(),
        SnmpError::NoSuchObject(target.clone())
    );
    agent.join().unwrap();
}

/// A table agent answering GETNEXT (v1) and GETBULK (v2c) from a sorted map.
fn table_agent(requests: usize, rows: usize) -> (u16, thread::JoinHandle<()>) {
    let mut table = BTreeMap::new();
    for i in 1..=rows as u32 {
        table.insert(
            oid("1.3.6.1.2.1.2.2.1.2").child(i),
            Value::OctetString(format!("port{i}").into_bytes()),
        );
        table.insert(oid("1.3.6.1.2.1.2.2.1.7").child(i), Value::Integer(1));
    }
    fake_agent(requests, move |v, c, req| {
        let start = req.varbinds[0].0.clone();
        let count = if req.kind == PduType::GetBulk {
            req.error_index as usize
        } else {
            1
        };
        let next: Vec<(Oid, Value)> = table
            .range((std::ops::Bound::Excluded(start), std::ops::Bound::Unbounded))
            .take(count)
            .map(|(o, v)| (o.clone(), v.clone()))
            .collect();
        if next.is_empty() && v == 0 {
            let mut answer = Pdu::request(PduType::Response, req.request_id, req.varbinds.clone());
            answer.error_status = error_status::NO_SUCH_NAME;
            return vec![message::encode_community(Version::V1, c, &answer)];
        }
        let mut next = next;
        if next.len() < count {
            next.push((oid("1.3.6.1.2.1.2.2.1.99"), Value::EndOfMibView));
        }
        vec![response(v, c, req, next)]
    })
}

#[test]
fn walk_with_getnext_and_getbulk() {
    let base = oid("1.3.6.1.2.1.2.2.1.2");
    // v1: one GETNEXT per row plus the one that leaves the column.
    let (port, agent) = table_agent(4, 3);
    let mut v1 = open(port, community(Version::V1, "public"));
    let rows = v1
        .walk(&base, Deadline::after(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[2],
        (base.child(3), Value::OctetString(b"port3".to_vec()))
    );
    agent.join().unwrap();
    // v2c: 30 rows in two GETBULK requests of 24.
    let (port, agent) = table_agent(2, 30);
    let mut v2 = open(port, community(Version::V2c, "public"));
    let rows = v2
        .walk(&base, Deadline::after(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(rows.len(), 30);
    assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
    agent.join().unwrap();
}

#[test]
fn usm_reports_are_classified() {
    let stat = |n: u32| oid("1.3.6.1.6.3.15.1.1").extend(&[n, 0]);
    assert_eq!(classify_report(Some(&stat(5))), UsmFailure::WrongDigest);
    assert_eq!(classify_report(Some(&stat(3))), UsmFailure::UnknownUserName);
    assert_eq!(classify_report(Some(&stat(2))), UsmFailure::NotInTimeWindow);
    assert_eq!(classify_report(Some(&stat(4))), UsmFailure::UnknownEngineId);
    assert_eq!(classify_report(Some(&stat(6))), UsmFailure::DecryptionError);
    assert_eq!(
        classify_report(Some(&stat(1))),
        UsmFailure::UnsupportedSecLevel
    );
    assert!(matches!(
        classify_report(Some(&oid("1.3.6.1.6.3.11.2.1.3.0"))),
        UsmFailure::Other(_)
    ));
    assert!(matches!(classify_report(None), UsmFailure::Other(_)));
}

#[test]
fn short_v3_passphrases_are_refused_before_sending() {
    let user = UsmUser {
        name: "u".into(),
        level: SecurityLevel::AuthPriv,
        auth: AuthProtocol::Sha1,
        auth_password: "longenough".into(),
        privacy: PrivProtocol::Aes128,
        priv_password: "short".into(),
    };
    let err = Session::open(
        "127.0.0.1",
        9,
        Security::Usm(user),
        Duration::from_millis(100),
        Deadline::after(Duration::from_secs(1)),
    )
    .err()
    .unwrap();
    assert!(
        matches!(err, SnmpError::Config(ref m) if m.contains("privacy")),
        "{err:?}"
    );
}
