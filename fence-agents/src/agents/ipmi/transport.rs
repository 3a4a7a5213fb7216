//! UDP request/reply exchange with one BMC under a deadline: send, wait up to one
//! retransmit interval for an acceptable reply, send again, until the deadline.
//!
//! The socket is unconnected and replies are matched by source address, so an ICMP
//! "port unreachable" can neither end the wait early nor make a send fail: a BMC that
//! does not answer is always reported as [`DeviceError::TimedOut`] at the deadline.

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use crate::device::{Deadline, DeviceError};

/// Sends of one request when the caller set no deadline at all (ipmitool's default).
const SENDS_WITHOUT_DEADLINE: u32 = 4;
/// Shortest and longest wait for one reply, whatever the caller asked for.
const MIN_RETRANSMIT: Duration = Duration::from_millis(20);
const MAX_RETRANSMIT: Duration = Duration::from_secs(3600);
/// Largest datagram we read (RMCP+ replies to chassis commands are < 100 bytes).
const MAX_DATAGRAM: usize = 1024;

/// What the caller makes of one received datagram.
pub(crate) enum Verdict<T> {
    /// The reply we waited for (or a final error it carries).
    Done(Result<T, DeviceError>),
    /// Not ours (stale retransmit answer, other session, garbage): keep waiting.
    Ignore,
}

/// A UDP socket talking to one BMC.
#[derive(Debug)]
pub(crate) struct Transport {
    socket: UdpSocket,
    peer: SocketAddr,
    retransmit: Duration,
    deadline: Deadline,
}

impl Transport {
    /// Resolve `host:port` and open a socket for it.
    pub(crate) fn open(
        host: &str,
        port: u16,
        retransmit: Duration,
        deadline: Deadline,
    ) -> Result<Transport, DeviceError> {
        let peer = (host, port)
            .to_socket_addrs()
            .map_err(|e| DeviceError::ConnectionLost(format!("cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| DeviceError::ConnectionLost(format!("{host} has no address")))?;
        let local: SocketAddr = match peer {
            SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
            SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
        };
        let socket = UdpSocket::bind(local)
            .map_err(|e| DeviceError::ConnectionLost(format!("cannot open a UDP socket: {e}")))?;
        Ok(Transport {
            socket,
            peer,
            retransmit: retransmit.clamp(MIN_RETRANSMIT, MAX_RETRANSMIT),
            deadline,
        })
    }

    /// The deadline every exchange ends by.
    pub(crate) fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Replace the deadline (closing a session after the operation's own deadline).
    pub(crate) fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    /// Send a datagram without waiting for anything.
    pub(crate) fn send_only(&self, packet: &[u8]) {
        // Best effort by design (RAKP 3 failure notice, Close Session).
        let _ = self.socket.send_to(packet, self.peer);
    }

    /// Send `build()` and hand each datagram from the BMC to `judge` until it says
    /// [`Verdict::Done`]; resend (a fresh `build()`) after every retransmit interval
    /// without one. Gives up with `TimedOut` at the deadline, or after `max_sends`
    /// sends (at most 4 when there is no deadline).
    pub(crate) fn exchange<T>(
        &mut self,
        step: &str,
        max_sends: Option<u32>,
        build: &mut dyn FnMut() -> Result<Vec<u8>, DeviceError>,
        judge: &mut dyn FnMut(&[u8]) -> Verdict<T>,
    ) -> Result<T, DeviceError> {
        let started = Instant::now();
        let max_sends = match (max_sends, self.deadline.instant()) {
            (Some(n), _) => n.max(1),
            (None, None) => SENDS_WITHOUT_DEADLINE,
            (None, Some(_)) => u32::MAX,
        };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut sends = 0u32;
        let mut last_error = None;
        while sends < max_sends && !self.deadline.expired() {
            let packet = build()?;
            sends += 1;
            if let Err(e) = self.socket.send_to(&packet, self.peer) {
                last_error = Some(e.to_string());
            }
            let window_end = Instant::now() + self.deadline.bound(self.retransmit);
            loop {
                let left = window_end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                if let Err(e) = self.socket.set_read_timeout(Some(left)) {
                    return Err(DeviceError::ConnectionLost(format!("socket: {e}")));
                }
                match self.socket.recv_from(&mut buf) {
                    Ok((n, from)) if from == self.peer => {
                        if let Verdict::Done(result) = judge(&buf[..n]) {
                            return result;
                        }
                    }
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Unexpected socket error: do not spin, wait out the window.
                        last_error = Some(e.to_string());
                        std::thread::sleep(window_end.saturating_duration_since(Instant::now()));
                        break;
                    }
                }
            }
        }
        let mut message = format!(
            "no reply from the BMC at {} to {step} after {sends} attempt(s) in {:.1} s",
            self.peer,
            started.elapsed().as_secs_f64()
        );
        if let Some(e) = last_error {
            message.push_str(&format!(" (last error: {e})"));
        }
        Err(DeviceError::TimedOut(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_peer_times_out_at_the_deadline() {
        // A bound socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = silent.local_addr().expect("addr").port();
        let deadline = Deadline::after(Duration::from_millis(300));
        let mut t =
            Transport::open("127.0.0.1", port, Duration::from_millis(100), deadline).expect("open");
        // The error kind and the sends are the checks (ignoring the deadline would hang
        // this test).
        let mut sends = 0;
        let result: Result<(), _> = t.exchange(
            "a test request",
            None,
            &mut || {
                sends += 1;
                Ok(vec![1, 2, 3])
            },
            &mut |_| Verdict::Ignore,
        );
        assert!(
            matches!(result, Err(DeviceError::TimedOut(_))),
            "{result:?}"
        );
        // Retransmitted every 100 ms within 300 ms: more than one send, never more than
        // fit (a loaded machine may wake late and manage fewer).
        assert!((2..=4).contains(&sends), "{sends} sends");
    }

    #[test]
    fn echo_peer_reply_is_judged_and_strays_are_skipped() {
        let echo = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = echo.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, from) = echo.recv_from(&mut buf).expect("recv");
            echo.send_to(b"stray", from).expect("send stray");
            echo.send_to(&buf[..n], from).expect("send echo");
        });
        let mut t = Transport::open(
            "127.0.0.1",
            port,
            Duration::from_secs(1),
            Deadline::after(Duration::from_secs(5)),
        )
        .expect("open");
        let got = t.exchange("echo", Some(1), &mut || Ok(b"ping".to_vec()), &mut |d| {
            if d == b"ping" {
                Verdict::Done(Ok(d.len()))
            } else {
                Verdict::Ignore
            }
        });
        assert_eq!(got, Ok(4));
        server.join().expect("server thread");
    }
}
