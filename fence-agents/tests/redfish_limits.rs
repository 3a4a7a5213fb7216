//! fence_redfish against a hostile service on 127.0.0.1 (a thread of this test): an
//! endless chunked answer ends the agent with exit 1 and one error record naming the
//! body limit, instead of reading until memory runs out.

mod common;

use common::run_agent;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

/// Bytes the service writes at most, so that a regression cannot eat the machine.
const BOUND: u64 = 64 << 20;

#[test]
fn an_endless_answer_fails_the_agent_with_exit_1() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let flood = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        // A safety net, not an assertion: never block forever on a silent client.
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .expect("write timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                    Transfer-Encoding: chunked\r\n\r\n";
        stream.write_all(head.as_bytes()).expect("head");
        let data = "x".repeat(64 * 1024);
        let chunk = format!("{:x}\r\n{data}\r\n", data.len());
        let mut sent = 0;
        while sent < BOUND && stream.write_all(chunk.as_bytes()).is_ok() {
            sent += data.len() as u64;
        }
        sent
    });
    let ip = format!("--ip=http://127.0.0.1:{port}");
    let args = [
        ip.as_str(),
        "-l",
        "admin",
        "-p",
        "secret",
        "--systems-uri=/redfish/v1/Systems/1",
        "-o",
        "status",
    ];
    let ran = run_agent("fence_redfish", &args, None);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    let expected = format!(
        "Device protocol error: GET http://127.0.0.1:{port}/redfish/v1/Systems/1: \
         the answer is larger than 1048576 bytes; not reading it"
    );
    assert!(
        ran.records("ERROR").iter().any(|e| e.ends_with(&expected)),
        "{ran:?}"
    );
    let sent = flood.join().expect("flood thread");
    assert!(sent < BOUND, "the agent read on to the bound: {sent} bytes");
}
