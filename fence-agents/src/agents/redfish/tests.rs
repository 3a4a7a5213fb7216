//! RedfishDevice against a scripted plain-HTTP service on 127.0.0.1 (one thread, one
//! connection per request): discovery, ambiguity, reset-type choice, transitional power
//! states, ActionInfo, redirects (and cross-origin ones refused), login and timeout
//! errors, oversized and endless answers, listing, option checks.
//! The real-peer tests (sushy-tools over TLS) are the root package's `tests/redfish.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::args::{parse_argv, parse_stdin};
use crate::device::PowerState;

/// One request the service got.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to one request: status, extra headers, body.
type Answer = (u16, Vec<(&'static str, String)>, String);
type Handler = Box<dyn FnMut(&Seen) -> Answer + Send>;

/// A scripted Redfish service; `seen` records every request.
struct Service {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let path = words.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

impl Service {
    fn start(mut handler: Handler) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(req) = read_request(&mut stream) else {
                    continue;
                };
                log.lock().unwrap().push(req.clone());
                let (status, headers, body) = handler(&req);
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (n, v) in headers {
                    out.push_str(&format!("{n}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                let _ = stream.write_all(out.as_bytes());
            }
        });
        Service { port, seen }
    }

    /// Requests as `METHOD path`.
    fn requests(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }

    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

fn ok(v: Value) -> Answer {
    (200, vec![], v.to_string())
}

const SYS1: &str = "/redfish/v1/Systems/1";
const SYS2: &str = "/redfish/v1/Systems/2";

fn root() -> Value {
    json!({"Systems": {"@odata.id": "/redfish/v1/Systems"}})
}

fn collection(members: &[&str]) -> Value {
    let list: Vec<Value> = members.iter().map(|m| json!({"@odata.id": m})).collect();
    json!({"Members": list})
}

fn system(id: &str, state: &str, allowed: Option<&[&str]>) -> Value {
    let mut reset =
        json!({"target": format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset")});
    if let Some(a) = allowed {
        reset["ResetType@Redfish.AllowableValues"] = json!(a);
    }
    json!({"Id": id, "Name": format!("node{id}"), "PowerState": state,
        "Actions": {"#ComputerSystem.Reset": reset}})
}

/// A service with the given systems; power states follow the POSTed reset types.
fn bmc(systems: &[&str], allowed: Option<&'static [&'static str]>) -> Service {
    let ids: Vec<String> = systems.iter().map(|s| s.to_string()).collect();
    let mut state: Vec<String> = ids.iter().map(|_| "On".to_string()).collect();
    Service::start(Box::new(move |req| {
        let paths: Vec<String> = ids
            .iter()
            .map(|i| format!("/redfish/v1/Systems/{i}"))
            .collect();
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/redfish/v1") => ok(root()),
            ("GET", "/redfish/v1/Systems") => {
                let m: Vec<&str> = paths.iter().map(String::as_str).collect();
                ok(collection(&m))
            }
            ("GET", p) => match paths.iter().position(|x| x == p) {
                Some(i) => ok(system(&ids[i], &state[i], allowed)),
                None => (404, vec![], r#"{"error":{"message":"not found"}}"#.into()),
            },
            ("POST", p) => {
                let i = paths
                    .iter()
                    .position(|x| p == format!("{x}/Actions/ComputerSystem.Reset"))
                    .unwrap();
                let v: Value = serde_json::from_str(&req.body).unwrap();
                state[i] = match v["ResetType"].as_str().unwrap() {
                    "ForceOff" => "Off".into(),
                    _ => "On".into(),
                };
                (204, vec![], String::new())
            }
            _ => (405, vec![], String::new()),
        }
    }))
}

fn params_from(port: u16, extra: &str) -> Params {
    let specs = AGENT.invoked_as("fence_redfish").options();
    let text = format!(
        "ip=http://127.0.0.1:{port}\nusername=admin\npassword=hunter2\n\
         login_timeout=2\nshell_timeout=1\n{extra}"
    );
    let p = Params::from_raw(&specs, &parse_stdin(&specs, &text), "reboot", false).unwrap();
    p.check_required(&AGENT).unwrap();
    p
}

fn open(port: u16, extra: &str) -> Result<Box<dyn PowerDevice>, DeviceError> {
    connect(
        &params_from(port, extra),
        Deadline::after(Duration::from_secs(3)),
    )
}

#[test]
fn discovers_the_only_system_and_reuses_the_first_read() {
    let svc = bmc(&["1"], None);
    let mut dev = open(svc.port, "action=status\n").unwrap();
    assert_eq!(dev.power_status(None), Ok(PowerState::On));
    assert_eq!(
        svc.requests(),
        [
            "GET /redfish/v1",
            "GET /redfish/v1/Systems",
            "GET /redfish/v1/Systems/1"
        ]
    );
    let last = svc.last();
    assert_eq!(last.header("OData-Version"), Some("4.0"));
    assert_eq!(last.header("Accept"), Some("application/json"));
    // admin:hunter2
    assert_eq!(
        last.header("Authorization"),
        Some("Basic YWRtaW46aHVudGVyMg==")
    );
}

#[test]
fn an_ambiguous_collection_is_refused_with_its_members() {
    let svc = bmc(&["1", "2"], None);
    let err = open(svc.port, "action=off\n").err().unwrap();
    let text = err.to_string();
    assert!(text.contains(SYS1) && text.contains(SYS2), "{text}");
    assert!(text.contains("--systems-uri"), "{text}");
    assert!(!svc.requests().iter().any(|r| r.starts_with("POST")));
}

#[test]
fn systems_uri_skips_discovery_and_off_sends_force_off() {
    let svc = bmc(&["1", "2"], None);
    let mut dev = open(svc.port, &format!("systems_uri={SYS2}\n")).unwrap();
    assert_eq!(dev.power_status(None), Ok(PowerState::On));
    dev.set_power(None, PowerState::Off).unwrap();
    assert_eq!(dev.power_status(None), Ok(PowerState::Off));
    let posted = svc
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.method == "POST")
        .cloned()
        .unwrap();
    assert_eq!(posted.path, format!("{SYS2}/Actions/ComputerSystem.Reset"));
    assert_eq!(posted.body, r#"{"ResetType":"ForceOff"}"#);
    assert_eq!(posted.header("Content-Type"), Some("application/json"));
    assert_eq!(svc.requests()[0], format!("GET {SYS2}"));
}

#[test]
fn allowable_values_choose_a_hard_reset_or_refuse() {
    let svc = bmc(&["1"], Some(&["On", "GracefulShutdown", "PushPowerButton"]));
    let mut dev = open(svc.port, "").unwrap();
    dev.set_power(None, PowerState::Off).unwrap();
    assert_eq!(svc.last().body, r#"{"ResetType":"PushPowerButton"}"#);
    let err = dev.power_cycle(None).unwrap_err();
    assert!(err.to_string().contains("ForceRestart"), "{err}");

    let graceful = bmc(&["1"], Some(&["On", "GracefulShutdown"]));
    let mut dev = open(graceful.port, "").unwrap();
    let err = dev.set_power(None, PowerState::Off).unwrap_err();
    assert!(err.to_string().contains("GracefulShutdown"), "{err}");
    assert!(!graceful.requests().iter().any(|r| r.starts_with("POST")));
}

#[test]
fn transitional_states_keep_the_wait_going() {
    let states = Arc::new(Mutex::new(vec!["Off", "PoweringOn", "On"]));
    let script = states.clone();
    let svc = Service::start(Box::new(move |req| match req.method.as_str() {
        "POST" => (202, vec![], String::new()),
        _ => {
            let mut s = script.lock().unwrap();
            let now = if s.len() > 1 { s.remove(0) } else { s[0] };
            ok(system("1", now, None))
        }
    }));
    let mut dev = open(svc.port, &format!("systems_uri={SYS1}\n")).unwrap();
    assert_eq!(dev.power_status(None), Ok(PowerState::Off));
    dev.set_power(None, PowerState::On).unwrap();
    assert_eq!(svc.last().body, r#"{"ResetType":"On"}"#);
    assert_eq!(dev.power_status(None), Ok(PowerState::Off), "PoweringOn");
    assert_eq!(dev.power_status(None), Ok(PowerState::On));
}

#[test]
fn action_info_supplies_the_allowed_types() {
    let svc = Service::start(Box::new(|req| {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/info") => ok(json!({"Parameters": [{"Name": "ResetType",
            "AllowableValues": ["PowerCycle", "ForceOff"]}]})),
            ("GET", _) => ok(
                json!({"PowerState": "On", "Actions": {"#ComputerSystem.Reset": {
            "target": "/reset", "@Redfish.ActionInfo": "/info"}}}),
            ),
            _ => (204, vec![], String::new()),
        }
    }));
    let mut dev = open(svc.port, &format!("systems_uri={SYS1}\n")).unwrap();
    dev.power_cycle(None).unwrap();
    assert_eq!(
        svc.requests(),
        [
            format!("GET {SYS1}"),
            "GET /info".into(),
            "POST /reset".into()
        ]
    );
    assert_eq!(svc.last().body, r#"{"ResetType":"PowerCycle"}"#);
}

#[test]
fn redirects_are_followed_with_credentials() {
    let svc = Service::start(Box::new(|req| match req.path.as_str() {
        "/redfish/v1/Systems/node1" => (307, vec![("Location", SYS1.to_string())], String::new()),
        _ => ok(system("1", "Off", None)),
    }));
    let mut dev = open(svc.port, "systems_uri=/redfish/v1/Systems/node1\n").unwrap();
    assert_eq!(dev.power_status(None), Ok(PowerState::Off));
    assert_eq!(svc.last().path, SYS1);
    assert!(svc.last().header("Authorization").is_some());
}

#[test]
fn redirects_to_another_origin_are_refused() {
    let elsewhere = bmc(&["1"], None);
    for target in [
        format!("http://127.0.0.1:{}{SYS1}", elsewhere.port),
        format!("https://127.0.0.1:{}{SYS1}", elsewhere.port),
    ] {
        let location = target.clone();
        let svc = Service::start(Box::new(move |_| {
            (302, vec![("Location", location.clone())], String::new())
        }));
        let err = open(svc.port, "systems_uri=/redfish/v1/Systems/node1\n")
            .err()
            .unwrap();
        let origin = target.trim_end_matches(SYS1).to_string();
        assert!(
            matches!(&err, DeviceError::Protocol(m) if m.contains("another origin") && m.contains(&origin)),
            "{target}: {err}"
        );
        assert_eq!(svc.requests(), ["GET /redfish/v1/Systems/node1"]);
    }
    // Another host name on the same port is another origin too.
    let svc = Service::start(Box::new(|req| match req.path.as_str() {
        SYS1 => ok(system("1", "Off", None)),
        _ => (
            301,
            vec![("Location", "http://localhost:1/x".to_string())],
            String::new(),
        ),
    }));
    let err = open(svc.port, "systems_uri=/redfish/v1/Systems/node1\n")
        .err()
        .unwrap();
    assert!(
        matches!(&err, DeviceError::Protocol(m) if m.contains("another origin")),
        "{err}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

/// Bytes a hostile service writes at most, so that a regression cannot eat the machine.
const HOSTILE_BOUND: u64 = 64 << 20;

/// A service that answers the first request with `head` and then body bytes until the
/// client hangs up (or [`HOSTILE_BOUND`]); the thread returns how many body bytes it
/// wrote. `chunked` frames them as HTTP chunks.
fn flooding_service(head: String, chunked: bool) -> (u16, std::thread::JoinHandle<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let flood = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // A safety net, not an assertion: never block forever on a silent client.
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        read_request(&mut stream).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let data = "x".repeat(64 * 1024);
        let piece = if chunked {
            format!("{:x}\r\n{data}\r\n", data.len())
        } else {
            data.clone()
        };
        let mut sent = 0;
        while sent < HOSTILE_BOUND && stream.write_all(piece.as_bytes()).is_ok() {
            sent += data.len() as u64;
        }
        sent
    });
    (port, flood)
}

fn assert_body_refused(port: u16, flood: std::thread::JoinHandle<u64>) {
    let err = open(port, &format!("systems_uri={SYS1}\n")).err().unwrap();
    assert!(
        matches!(&err, DeviceError::Protocol(m)
            if m.contains(&format!("larger than {} bytes", http::MAX_BODY))),
        "{err}"
    );
    let sent = flood.join().unwrap();
    assert!(
        sent < HOSTILE_BOUND,
        "the client read on to the bound: {sent} bytes"
    );
}

#[test]
fn an_endless_chunked_answer_is_cut_at_the_body_limit() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let (port, flood) = flooding_service(head.to_string(), true);
    assert_body_refused(port, flood);
}

#[test]
fn a_declared_huge_answer_is_refused_before_reading() {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        100 << 20
    );
    let (port, flood) = flooding_service(head, false);
    assert_body_refused(port, flood);
}

#[test]
fn wrong_password_is_login_denied_without_the_password() {
    let svc = Service::start(Box::new(|_| {
        (
            401,
            vec![],
            r#"{"error":{"message":"Incorrect username or password"}}"#.into(),
        )
    }));
    let err = open(svc.port, "").err().unwrap();
    assert!(matches!(err, DeviceError::LoginDenied(_)), "{err}");
    assert!(!err.to_string().contains("hunter2"));
    assert!(
        err.to_string().contains("Incorrect username or password"),
        "{err}"
    );
}

#[test]
fn unknown_system_is_no_such_plug() {
    let svc = bmc(&["1"], None);
    let err = open(svc.port, "systems_uri=/redfish/v1/Systems/9\n")
        .err()
        .unwrap();
    assert!(
        matches!(&err, DeviceError::NoSuchPlug(m) if m.contains("/Systems/9")),
        "{err}"
    );
}

#[test]
fn a_silent_service_times_out_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The error kind is the check; ignoring the deadline would hang this test.
    let err = connect(
        &params_from(port, ""),
        Deadline::after(Duration::from_millis(500)),
    )
    .err()
    .unwrap();
    assert!(matches!(err, DeviceError::TimedOut(_)), "{err}");
    drop(listener);
}

#[test]
fn refused_connection_is_connection_lost() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = open(port, "").err().unwrap();
    assert!(
        matches!(&err, DeviceError::ConnectionLost(m) if m.contains("refused")),
        "{err}"
    );
}

#[test]
fn list_names_every_system_even_when_ambiguous() {
    let svc = bmc(&["1", "2"], None);
    let mut dev = open(svc.port, "action=list\n").unwrap();
    assert!(
        svc.requests().is_empty(),
        "list must not resolve a system while connecting"
    );
    let plugs = dev.list_plugs().unwrap();
    let shown: Vec<(String, String)> = plugs.into_iter().map(|p| (p.id, p.alias)).collect();
    assert_eq!(
        shown,
        [
            (SYS1.to_string(), "node1".to_string()),
            (SYS2.to_string(), "node2".to_string())
        ]
    );
    assert_eq!(dev.power_status(Some("2")), Ok(PowerState::On));
}

#[test]
fn options_are_checked() {
    let specs = AGENT.invoked_as("fence_redfish").options();
    let argv = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let raw = parse_argv(&specs, &args).unwrap();
        Params::from_raw(&specs, &raw, "reboot", false).unwrap()
    };
    let base = ["-l", "u", "-p", "p", "-o", "status"];
    let with = |extra: &[&str]| {
        let mut all: Vec<&str> = base.to_vec();
        all.extend_from_slice(extra);
        argv(&all)
    };
    let c = config(&with(&["-a", "bmc"])).unwrap();
    assert_eq!(c.endpoint.origin(), "https://bmc:443");
    assert!(!c.insecure);
    assert_eq!(c.redfish_uri, "/redfish/v1");
    assert_eq!(c.request_timeout, Duration::from_secs(5));
    let c = config(&with(&["-a", "bmc", "-u", "8443", "--ssl-insecure"])).unwrap();
    assert_eq!(c.endpoint.origin(), "https://bmc:8443");
    assert!(c.insecure);
    let c = config(&with(&["-a", "http://bmc"])).unwrap();
    assert_eq!(c.endpoint.origin(), "http://bmc:80");
    assert!(config(&with(&["-a", "http://bmc", "--ssl-insecure"])).is_err());
    assert!(config(&with(&["-a", "bmc", "-u", "70000"])).is_err());
    assert!(config(&with(&["-a", "bmc/redfish"])).is_err());
    let c = config(&with(&[
        "-a",
        "bmc",
        "--systems-uri",
        "/redfish/v1/Systems/1",
    ]))
    .unwrap();
    assert_eq!(c.systems_uri.as_deref(), Some("/redfish/v1/Systems/1"));
    let stdin = parse_stdin(
        &specs,
        "ip=bmc\nlogin=u\npasswd=p\nsystems-uri=/s/1\nredfish-uri=/rf\n",
    );
    let p = Params::from_raw(&specs, &stdin, "reboot", false).unwrap();
    p.check_required(&AGENT).unwrap();
    let c = config(&p).unwrap();
    assert_eq!(
        (c.systems_uri.as_deref(), c.redfish_uri.as_str()),
        (Some("/s/1"), "/rf")
    );
    let no_password = parse_stdin(&specs, "ip=bmc\nlogin=u\n");
    let p = Params::from_raw(&specs, &no_password, "reboot", false).unwrap();
    assert_eq!(p.check_required(&AGENT), Err(UsageError::NoPassword));
}
