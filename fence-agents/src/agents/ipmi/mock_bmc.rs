//! Test-only RMCP+ BMC built from the same `rakp`/`wire` code as the client, used to
//! cross-check the key derivations against an independent client (ipmitool) for the
//! suites OpenIPMI's simulator does not offer (15-17: HMAC-SHA256) or derives
//! differently (7, 8: MD5). If ipmitool can read power through it, ipmitool and this
//! code agree on every HMAC, key and padding of that suite.
//!
//! It answers Get Channel Authentication Capabilities, Open Session, RAKP 1 and 3, and
//! in-session IPMI requests (Get Chassis Status = on, anything else = success, no data).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cipher::CipherSuite;
use super::rakp::Handshake;
use super::wire::{self, SessionKeys};

const MANAGED_SID: u32 = 0x5A5A_0001;

/// What the mock saw.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    /// (netfn, cmd) of every in-session request that verified and decrypted.
    pub requests: Vec<(u8, u8)>,
    /// The client's RAKP 3 proof matched ours.
    pub rakp3_ok: bool,
    /// The cipher suite of the last session opened.
    pub suite: Option<u8>,
}

pub(crate) struct MockBmc {
    pub port: u16,
    pub seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockBmc {
    /// Serve one user (`user`/`password`) for up to `life`.
    pub(crate) fn start(user: &str, password: &str, life: Duration) -> MockBmc {
        MockBmc::start_refusing(user, password, life, None)
    }

    /// Like [`MockBmc::start`], answering Open Session for cipher suite `refused` with
    /// "no cipher suite match" (a BMC that does not offer it).
    pub(crate) fn start_refusing(
        user: &str,
        password: &str,
        life: Duration,
        refused: Option<u8>,
    ) -> MockBmc {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind mock BMC");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (user, password, seen2, stop2) = (
            user.to_string(),
            password.to_string(),
            seen.clone(),
            stop.clone(),
        );
        let thread = std::thread::spawn(move || {
            serve(socket, &user, &password, life, refused, &seen2, &stop2)
        });
        MockBmc {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn seen(&self) -> Seen {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for MockBmc {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// IPMB response to an IPMB request.
fn ipmb_response(request: &[u8], completion: u8, data: &[u8]) -> Option<(u8, u8, Vec<u8>)> {
    if request.len() < 7 {
        return None;
    }
    let (netfn, rq_addr, rq_seq_lun, cmd) = (request[1] >> 2, request[3], request[4], request[5]);
    let head = [rq_addr, ((netfn | 1) << 2) | (rq_seq_lun & 3)];
    let mut msg = head.to_vec();
    msg.push(checksum(&head));
    let body_start = msg.len();
    msg.extend_from_slice(&[request[0], rq_seq_lun & 0xFC, cmd, completion]);
    msg.extend_from_slice(data);
    let sum = checksum(&msg[body_start..]);
    msg.push(sum);
    Some((netfn, cmd, msg))
}

fn serve(
    socket: UdpSocket,
    user: &str,
    password: &str,
    life: Duration,
    refused: Option<u8>,
    seen: &Mutex<Seen>,
    stop: &AtomicBool,
) {
    let until = Instant::now() + life;
    let mut buf = [0u8; 1024];
    let mut hs: Option<Handshake> = None;
    let mut keys: Option<SessionKeys> = None;
    let mut seq = 0u32;
    let reply = |to: SocketAddr, pkt: Vec<u8>| {
        let _ = socket.send_to(&pkt, to);
    };
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let pkt = &buf[..n];
        if pkt.len() > 4 && pkt[4] != 0x06 {
            // IPMI 1.5 framing outside a session: Get Channel Auth Capabilities.
            let Ok(p) = wire::parse_v15_packet(pkt, &[0u8; 16]) else {
                continue;
            };
            let caps = [0x01, 0x80 | 0x04, 0x04, 0x02, 0, 0, 0, 0];
            if let Some((_, 0x38, msg)) = ipmb_response(&p.msg, 0, &caps) {
                reply(
                    from,
                    wire::v15_packet(wire::V15Auth::None, &[0; 16], 0, 0, &msg),
                );
            }
            continue;
        }
        // In-session packets; anything else is a new login.
        if let Some((k, p)) = keys
            .as_ref()
            .and_then(|k| Some((k, wire::parse_v20_packet(k, pkt).ok()?)))
        {
            let Some((netfn, cmd, _)) = ipmb_response(&p.payload, 0, &[]) else {
                continue;
            };
            seen.lock().expect("lock").requests.push((netfn, cmd));
            let data: &[u8] = match (netfn, cmd) {
                (0x00, 0x01) => &[0x01, 0x00, 0x00, 0x00],
                (0x06, 0x3B) => &[0x04],
                _ => &[],
            };
            let Some((_, _, msg)) = ipmb_response(&p.payload, 0, data) else {
                continue;
            };
            seq += 1;
            let console_sid = hs.as_ref().map_or(0, |h| h.console_sid);
            reply(
                from,
                wire::v20_packet(k, wire::PAYLOAD_IPMI, console_sid, seq, &msg, [7u8; 16]),
            );
            continue;
        }
        let Ok(p) = wire::parse_v20_packet(&SessionKeys::NONE, pkt) else {
            continue;
        };
        let d = &p.payload;
        match p.payload_type {
            wire::PAYLOAD_OPEN_SESSION_REQUEST if d.len() >= 32 => {
                let suite = (0..=17).filter_map(CipherSuite::by_id).find(|s| {
                    [
                        s.auth_number(),
                        s.integrity_number(),
                        s.confidentiality_number(),
                    ] == [d[12], d[20], d[28]]
                });
                let Some(suite) = suite else { continue };
                let console_sid = u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
                if refused == Some(suite.id) {
                    let mut r = vec![d[0], 0x11, 0, 0];
                    r.extend_from_slice(&console_sid.to_le_bytes());
                    reply(from, unsecured(wire::PAYLOAD_OPEN_SESSION_RESPONSE, &r));
                    continue;
                }
                seen.lock().expect("lock").suite = Some(suite.id);
                hs = Some(Handshake {
                    suite,
                    console_sid,
                    managed_sid: MANAGED_SID,
                    rm: [0; 16],
                    rc: [0x3C; 16],
                    guid: [0xA5; 16],
                    role: 0,
                    user: Vec::new(),
                    kuid: password.as_bytes().to_vec(),
                    kg: None,
                });
                let mut r = vec![d[0], 0, 4, 0];
                r.extend_from_slice(&console_sid.to_le_bytes());
                r.extend_from_slice(&MANAGED_SID.to_le_bytes());
                r.extend_from_slice(&d[8..32]);
                reply(from, unsecured(wire::PAYLOAD_OPEN_SESSION_RESPONSE, &r));
            }
            wire::PAYLOAD_RAKP1 if d.len() >= 28 => {
                let Some(h) = hs.as_mut() else { continue };
                let ulen = usize::from(d[27]);
                h.rm.copy_from_slice(&d[8..24]);
                h.role = d[24];
                h.user = d[28..28 + ulen.min(d.len() - 28)].to_vec();
                let status = if h.user == user.as_bytes() { 0 } else { 0x0D };
                let mut r = vec![d[0], status, 0, 0];
                r.extend_from_slice(&h.console_sid.to_le_bytes());
                r.extend_from_slice(&h.rc);
                r.extend_from_slice(&h.guid);
                r.extend_from_slice(&h.expected_rakp2_proof());
                reply(from, unsecured(wire::PAYLOAD_RAKP2, &r));
            }
            wire::PAYLOAD_RAKP3 if d.len() >= 8 => {
                let Some(h) = hs.as_ref() else { continue };
                let ok = d[1] == 0 && d[8..] == h.rakp3_proof()[..];
                seen.lock().expect("lock").rakp3_ok = ok;
                let sik = h.sik();
                let mut r = vec![d[0], if ok { 0 } else { 0x0F }, 0, 0];
                r.extend_from_slice(&h.console_sid.to_le_bytes());
                r.extend_from_slice(&h.expected_rakp4_icv(&sik));
                reply(from, unsecured(wire::PAYLOAD_RAKP4, &r));
                if ok {
                    keys = Some(h.session_keys(&sik));
                }
            }
            _ => {}
        }
    }
}

fn unsecured(payload_type: u8, payload: &[u8]) -> Vec<u8> {
    wire::v20_packet(&SessionKeys::NONE, payload_type, 0, 0, payload, [0u8; 16])
}
