//! Tests of the layer: framing limits, version refusal, id echo, the connection cap, an
//! unauthorized peer, and typed round trips (a toy service and the fencer API's types;
//! the node control socket's round trip is in `crate::node::control`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::client::{Client, ClientError};
use super::peercred::AccessPolicy;
use super::server::{serve, Conn, Handler, Limits};
use super::wire::{parse_request, request_line, ApiError, ErrorCode, Response};
use super::Protocol;
use crate::api::protocol::{FencerApi, HelloResult, Request as FencerRequest};
use crate::node::admin::Command;
use crate::node::control::{ControlProtocol, Request as ControlRequest};

/// A toy service: version 3, 64-byte lines.
struct Echo;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case", deny_unknown_fields)]
enum EchoRequest {
    Echo { text: String },
    Fail {},
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Echoed {
    text: String,
    uid: u32,
}

impl Protocol for Echo {
    type Request = EchoRequest;
    type Answer = Echoed;
    const VERSION: u32 = 3;
    const MAX_LINE: usize = 64;
    const MAX_ANSWER: usize = 4096;
    const SERVICE: &'static str = "echo service";
    const START_HINT: &'static str = "is the test server running?";
    const EXAMPLES: &'static str = "\"echo\"";
}

#[derive(Default)]
struct EchoHandler {
    refused: AtomicUsize,
    handled: AtomicUsize,
    errors: Mutex<Vec<ErrorCode>>,
}

impl Handler for EchoHandler {
    type Protocol = Echo;

    async fn handle(&self, conn: &Conn<Self>, id: Value, request: EchoRequest) {
        self.handled.fetch_add(1, Ordering::SeqCst);
        let outcome = match request {
            EchoRequest::Echo { text } => Ok(Echoed {
                text,
                uid: conn.peer().uid,
            }),
            EchoRequest::Fail {} => Err(ApiError::new(ErrorCode::Invalid, "asked to fail")),
        };
        conn.reply(Response::from_result(id, outcome)).await;
    }

    fn refused(&self) {
        self.refused.fetch_add(1, Ordering::SeqCst);
    }

    fn error(&self, code: ErrorCode) {
        if let Ok(mut e) = self.errors.lock() {
            e.push(code);
        }
    }
}

/// A server of the toy service on a fresh socket, running until dropped.
struct Server {
    dir: PathBuf,
    path: PathBuf,
    handler: Arc<EchoHandler>,
    _stop: watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start(name: &str, policy: AccessPolicy, per_uid: usize, idle: Duration) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!("palisade-ipc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("mode");
        let path = dir.join("echo.sock");
        let listener = {
            let _guard = rt.enter();
            tokio::net::UnixListener::bind(&path).expect("bind")
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("mode");
        let handler = Arc::new(EchoHandler::default());
        let limits = Limits {
            policy,
            idle,
            per_uid,
            max_connections: 16,
        };
        let (stop, stopped) = watch::channel(false);
        rt.spawn(serve(listener, handler.clone(), limits, stopped));
        Server {
            dir,
            path,
            handler,
            _stop: stop,
            _rt: rt,
        }
    }

    fn open(name: &str) -> Server {
        let policy = AccessPolicy {
            service: "echo service",
            daemon_uid: nix::unistd::geteuid().as_raw(),
            group: None,
        };
        Server::start(name, policy, 8, Duration::from_secs(600))
    }

    fn client(&self) -> Client<Echo> {
        Client::connect(&self.path, Some(Duration::from_secs(30))).expect("connect")
    }

    fn errors(&self) -> Vec<ErrorCode> {
        self.handler
            .errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw connection: send lines, read parsed lines.
struct Raw {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Raw {
    fn open(path: &Path) -> Raw {
        let stream = UnixStream::connect(path).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Raw { stream, reader }
    }

    fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("write");
    }

    /// Whether the server closed the connection: end of stream, or a reset (it did
    /// not read all that was sent).
    fn closed(&mut self) -> bool {
        let mut rest = String::new();
        !matches!(self.reader.read_line(&mut rest), Ok(n) if n > 0)
    }

    /// The next line as JSON (None at end of stream).
    fn read(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read");
        (n > 0).then(|| serde_json::from_str(&line).expect("json line"))
    }
}

#[test]
fn typed_round_trip_and_error_codes() {
    let server = Server::open("round-trip");
    let mut client = server.client();
    let answer = client
        .call(&EchoRequest::Echo { text: "hi".into() })
        .expect("echo");
    assert_eq!(
        answer,
        Echoed {
            text: "hi".into(),
            uid: nix::unistd::geteuid().as_raw()
        }
    );
    match client.call(&EchoRequest::Fail {}) {
        Err(ClientError::Api { code, message }) => {
            assert_eq!(
                (code, message.as_str()),
                (ErrorCode::Invalid, "asked to fail")
            );
        }
        other => panic!("expected an API error: {other:?}"),
    }
    assert_eq!(server.errors(), [ErrorCode::Invalid]);
    let missing = Client::<Echo>::connect(&server.dir.join("none.sock"), None);
    assert!(matches!(missing, Err(ClientError::Connect { .. })));
}

#[test]
fn version_is_checked_and_ids_are_echoed() {
    let server = Server::open("version");
    let mut raw = Raw::open(&server.path);
    raw.send(r#"{"v":3,"id":"a1","request":"echo","text":"x"}"#);
    let ok = raw.read().expect("answer");
    assert_eq!(
        (&ok["v"], &ok["id"], &ok["ok"]),
        (&json!(3), &json!("a1"), &json!(true))
    );
    assert_eq!(ok["result"]["text"], "x");
    // no `v`: taken as the current version; the id may be any JSON
    raw.send(r#"{"id":{"n":[1,2]},"request":"echo","text":"y"}"#);
    assert_eq!(raw.read().expect("answer")["id"], json!({"n":[1,2]}));
    raw.send(r#"{"v":1,"id":7,"request":"echo","text":"x"}"#);
    let refused = raw.read().expect("answer");
    assert_eq!(
        (&refused["id"], &refused["ok"], &refused["error"]["code"]),
        (&json!(7), &json!(false), &json!("unsupported-version"))
    );
    raw.send("");
    raw.send("not json");
    let bad = raw.read().expect("answer");
    assert_eq!(
        (&bad["id"], &bad["error"]["code"]),
        (&Value::Null, &json!("bad-request"))
    );
    raw.send(r#"{"id":8,"request":"echo","text":"x","extra":1}"#);
    assert_eq!(raw.read().expect("answer")["error"]["code"], "bad-request");
    raw.send(r#"{"id":9}"#);
    let missing = raw.read().expect("answer");
    assert_eq!(missing["id"], 9);
    assert!(
        missing["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"echo\"")),
        "{missing}"
    );
    // the connection is still usable
    raw.send(r#"{"id":10,"request":"echo","text":"z"}"#);
    assert_eq!(raw.read().expect("answer")["result"]["text"], "z");
}

#[test]
fn an_over_long_line_is_refused_and_closes() {
    let server = Server::open("long");
    let mut raw = Raw::open(&server.path);
    let fits = format!(r#"{{"id":1,"request":"echo","text":"{}"}}"#, "a".repeat(16));
    assert!(fits.len() <= Echo::MAX_LINE);
    raw.send(&fits);
    assert_eq!(raw.read().expect("answer")["ok"], true);
    raw.send(&format!(
        r#"{{"id":2,"request":"echo","text":"{}"}}"#,
        "a".repeat(80)
    ));
    let refused = raw.read().expect("answer");
    assert_eq!(refused["error"]["code"], "bad-request");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("longer than 64 bytes")),
        "{refused}"
    );
    assert!(raw.closed(), "closed after an over-long line");
    assert_eq!(server.handler.handled.load(Ordering::SeqCst), 1);
    // the typed client gets the error too, not a hang
    let mut client = server.client();
    let long = EchoRequest::Echo {
        text: "b".repeat(100),
    };
    assert!(matches!(
        client.call(&long),
        Err(ClientError::Api {
            code: ErrorCode::BadRequest,
            ..
        })
    ));
}

#[test]
fn the_per_user_cap_turns_the_extra_connection_away() {
    let policy = AccessPolicy {
        service: "echo service",
        daemon_uid: nix::unistd::geteuid().as_raw(),
        group: None,
    };
    let server = Server::start("cap", policy, 1, Duration::from_secs(600));
    let mut first = server.client();
    first
        .call(&EchoRequest::Echo { text: "1".into() })
        .expect("first");
    let mut second = Raw::open(&server.path);
    let away = second.read().expect("one line");
    assert_eq!(
        (&away["id"], &away["error"]["code"]),
        (&Value::Null, &json!("unavailable"))
    );
    assert!(second.closed());
    drop(first);
    let mut third = server.client();
    // the slot comes back once the server sees the first connection gone
    let answered = (0..200).any(|_| {
        if third.call(&EchoRequest::Echo { text: "3".into() }).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
        third = server.client();
        false
    });
    assert!(answered, "served again after the first connection closed");
}

#[test]
fn an_idle_connection_is_closed() {
    let policy = AccessPolicy {
        service: "echo service",
        daemon_uid: nix::unistd::geteuid().as_raw(),
        group: None,
    };
    let server = Server::start("idle", policy, 8, Duration::from_millis(100));
    let mut raw = Raw::open(&server.path);
    assert!(raw.closed(), "the server closed the idle connection");
}

/// Run by [`an_unauthorized_peer_gets_one_line`] as another user: print what the server
/// says.
#[test]
#[ignore = "a helper run as another user by an_unauthorized_peer_gets_one_line"]
fn unauthorized_peer_helper() {
    let Some(path) = std::env::var_os("PALISADE_IPC_TEST_SOCKET") else {
        return;
    };
    let mut raw = Raw::open(Path::new(&path));
    // the server may have answered and closed before this is written
    let _ = raw
        .stream
        .write_all(b"{\"id\":1,\"request\":\"echo\",\"text\":\"x\"}\n");
    let line = raw.read().expect("a line");
    println!("ANSWER {line}");
    println!("THEN {}", raw.closed());
}

#[test]
fn an_unauthorized_peer_gets_one_line() {
    let me = nix::unistd::geteuid().as_raw();
    // A non-root test process is refused when the daemon's user is another; root is
    // always allowed, so as root the peer is the helper above run as nobody.
    let policy = AccessPolicy {
        service: "echo service",
        daemon_uid: me.wrapping_add(1),
        group: None,
    };
    let server = Server::start("unauthorized", policy, 8, Duration::from_secs(600));
    let (answer, closed) = if me != 0 {
        let mut raw = Raw::open(&server.path);
        let _ = raw
            .stream
            .write_all(b"{\"id\":1,\"request\":\"echo\",\"text\":\"x\"}\n");
        let answer = raw.read().expect("a line");
        (answer, raw.closed())
    } else {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        // A copy that `nobody` can reach: the build directory may sit under a private
        // directory (CI clones into a 0700 mktemp directory).
        let dir = std::env::temp_dir().join(format!("palisade-ipc-helper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("helper dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let helper = dir.join("ipc-helper");
        std::fs::copy(std::env::current_exe().expect("exe"), &helper).expect("copy helper");
        let out = std::process::Command::new(&helper)
            .args([
                "ipc::tests::unauthorized_peer_helper",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PALISADE_IPC_TEST_SOCKET", &server.path)
            .uid(65534)
            .gid(65534)
            .output()
            .expect("helper");
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let answer = text
            .lines()
            .find_map(|l| l.split_once("ANSWER ").map(|(_, json)| json))
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .unwrap_or_else(|| {
                panic!(
                    "helper output: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        (answer, text.contains("THEN true"))
    };
    assert_eq!(
        (
            &answer["id"],
            &answer["ok"],
            &answer["error"]["code"],
            &answer["v"]
        ),
        (
            &Value::Null,
            &json!(false),
            &json!("unauthorized"),
            &json!(3)
        )
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("may not use the echo service")),
        "{answer}"
    );
    assert!(closed, "disconnected after the refusal");
    assert_eq!(server.handler.refused.load(Ordering::SeqCst), 1);
    assert_eq!(server.handler.handled.load(Ordering::SeqCst), 0);
}

#[test]
fn both_services_share_the_envelope() {
    // the fencer API: its documented lines parse and encode as before
    let (id, request) =
        parse_request::<FencerApi>(br#"{"v":1,"id":"x","request":"hello"}"#).expect("fencer");
    assert_eq!((id, request), (json!("x"), FencerRequest::Hello {}));
    let line = request_line::<FencerApi>(&FencerRequest::Devices {}, &json!(4)).expect("line");
    assert_eq!(
        serde_json::from_str::<Value>(&line).expect("json"),
        json!({"v":1,"id":4,"request":"devices"})
    );
    let rejected =
        parse_request::<FencerApi>(br#"{"v":2,"id":5,"request":"hello"}"#).expect_err("version 2");
    assert_eq!(
        (rejected.id, rejected.error.code),
        (json!(5), ErrorCode::UnsupportedVersion)
    );
    // the node control socket: typed requests in the same envelope
    let admin = ControlRequest::Admin(Command::Standby {
        node: Some("node2".into()),
        on: true,
    });
    let line = request_line::<ControlProtocol>(&admin, &json!(1)).expect("line");
    assert_eq!(
        serde_json::from_str::<Value>(&line).expect("json"),
        json!({"v":1,"id":1,"request":"admin","command":"standby","node":"node2","on":true})
    );
    let (id, back) = parse_request::<ControlProtocol>(line.as_bytes()).expect("parse");
    assert_eq!((id, back), (json!(1), admin));
    let (_, status) = parse_request::<ControlProtocol>(br#"{"request":"status"}"#).expect("status");
    assert_eq!(status, ControlRequest::Status {});
    for bad in [
        r#"{"request":"reboot"}"#,
        r#"{"request":"admin","command":"move","resource":"a"}"#,
        r#"{"request":"admin","command":"standby","node":null,"on":true,"extra":1}"#,
        r#"{"request":"status","extra":1}"#,
    ] {
        let rejected = parse_request::<ControlProtocol>(bad.as_bytes()).expect_err(bad);
        assert_eq!(rejected.error.code, ErrorCode::BadRequest, "{bad}");
    }
    let rejected = parse_request::<ControlProtocol>(br#"{"v":2,"id":3,"request":"status"}"#)
        .expect_err("version 2");
    assert_eq!(
        (rejected.id, rejected.error.code),
        (json!(3), ErrorCode::UnsupportedVersion)
    );
}

/// The fencer API's own types through the layer: a hello answered by a handler.
struct FencerHello;

impl Handler for FencerHello {
    type Protocol = FencerApi;

    async fn handle(&self, conn: &Conn<Self>, id: Value, request: FencerRequest) {
        let response = match request {
            FencerRequest::Hello {} => Response::success(
                id,
                &HelloResult {
                    protocol: 1,
                    version: "test".into(),
                    node: "n1".into(),
                },
            ),
            _ => Response::failure(id, ApiError::new(ErrorCode::Internal, "only hello")),
        };
        conn.reply(response).await;
    }
}

#[test]
fn the_fencer_api_round_trips_typed() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("palisade-ipc-fencer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("fencer.sock");
    let listener = {
        let _guard = rt.enter();
        tokio::net::UnixListener::bind(&path).expect("bind")
    };
    let limits = Limits {
        policy: AccessPolicy {
            service: "fencer",
            daemon_uid: nix::unistd::geteuid().as_raw(),
            group: None,
        },
        idle: Duration::from_secs(600),
        per_uid: 4,
        max_connections: 4,
    };
    let (_stop, stopped) = watch::channel(false);
    rt.spawn(serve(listener, Arc::new(FencerHello), limits, stopped));
    let mut client =
        crate::api::client::Client::connect(&path, Some(Duration::from_secs(30))).expect("connect");
    let hello: HelloResult = client.call_as(&FencerRequest::Hello {}).expect("hello");
    assert_eq!((hello.protocol, hello.node.as_str()), (1, "n1"));
    let raw = client.call(&FencerRequest::Hello {}).expect("hello");
    assert_eq!(raw["version"], "test");
    assert!(matches!(
        client.call(&FencerRequest::Devices {}),
        Err(ClientError::Api {
            code: ErrorCode::Internal,
            ..
        })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
