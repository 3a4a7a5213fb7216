//! A native telnet client (RFC 854/855) for devices that only speak telnet (old PDUs,
//! DRACs, WTI switches), instead of ClusterLabs' `/usr/bin/telnet` child driven by
//! pexpect.
//!
//! [`Negotiator`] is pure: bytes from the device in, data bytes and our replies out.
//! Option policy: we only answer, never ask first (inetutils telnetd that receives
//! requests before its own opening is answered was measured waiting up to 0.7 s). We
//! let the server echo (ECHO) and both sides suppress go-ahead (SGA), the
//! character-at-a-time mode every telnet client ends up in; everything else (terminal
//! type, window size, linemode, environment, binary, authentication...) is refused, and
//! a refusal is only answered when it changes what was agreed, so negotiation cannot
//! loop. Without BINARY, lines go out as NVT "CR LF" and a "CR NUL" from the device
//! reads as CR. [`TelnetLink`] carries it over TCP with every read and write bounded by
//! the deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Link, LinkError};
use crate::device::Deadline;
use crate::ssh::openssh_options::AddressFamily;
use crate::ssh::tcp::{tcp_connect, Endpoint};
use crate::ssh::SshError;

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
/// Option codes we accept.
const ECHO: u8 = 1;
const SGA: u8 = 3;

/// Longest subnegotiation we skip before treating the stream as garbage.
const MAX_SUBNEGOTIATION: usize = 4096;

/// Where the parser is in the byte stream (commands may split across reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    /// After a CR in data (a following NUL is dropped).
    Cr,
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte comes next.
    Verb(u8),
    /// Inside IAC SB ... (skipped).
    Sub,
    SubIac,
}

/// The telnet option state machine: feed it what the device sent, get the data and the
/// replies to send back.
#[derive(Debug, Clone)]
pub struct Negotiator {
    state: State,
    /// Options the server does (we said DO), indexed by option code.
    them: [bool; 256],
    /// Options we do (we said WILL).
    us: [bool; 256],
    sub_len: usize,
}

impl Default for Negotiator {
    fn default() -> Self {
        Negotiator::new()
    }
}

/// What one chunk from the device holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fed {
    /// Data for the console.
    pub data: Vec<u8>,
    /// Negotiation to send back.
    pub reply: Vec<u8>,
}

impl Negotiator {
    pub fn new() -> Negotiator {
        Negotiator {
            state: State::Data,
            them: [false; 256],
            us: [false; 256],
            sub_len: 0,
        }
    }

    /// Parse `input`; `Err` when a subnegotiation never ends.
    pub fn feed(&mut self, input: &[u8]) -> Result<Fed, String> {
        let mut out = Fed::default();
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data | State::Cr, IAC) => State::Iac,
                (State::Cr, 0) => State::Data,
                (State::Data | State::Cr, b'\r') => {
                    out.data.push(b'\r');
                    State::Cr
                }
                (State::Data | State::Cr, b) => {
                    out.data.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    out.data.push(IAC);
                    State::Data
                }
                (State::Iac, verb @ (WILL | WONT | DO | DONT)) => State::Verb(verb),
                (State::Iac, SB) => {
                    self.sub_len = 0;
                    State::Sub
                }
                // NOP, GA, DM, BRK, AYT... carry nothing for us.
                (State::Iac, _) => State::Data,
                (State::Verb(verb), option) => {
                    self.answer(verb, option, &mut out.reply);
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => {
                    self.sub_len += 1;
                    if self.sub_len > MAX_SUBNEGOTIATION {
                        return Err("telnet subnegotiation without end".into());
                    }
                    State::Sub
                }
                (State::SubIac, SE) => State::Data,
                (State::SubIac, _) => State::Sub,
            };
        }
        Ok(out)
    }

    fn answer(&mut self, verb: u8, option: u8, reply: &mut Vec<u8>) {
        let i = usize::from(option);
        match verb {
            WILL => {
                if option == ECHO || option == SGA {
                    if !self.them[i] {
                        self.them[i] = true;
                        reply.extend([IAC, DO, option]);
                    }
                } else {
                    reply.extend([IAC, DONT, option]);
                }
            }
            WONT => {
                if self.them[i] {
                    self.them[i] = false;
                    reply.extend([IAC, DONT, option]);
                }
            }
            DO => {
                let accept = option == SGA;
                if accept {
                    if !self.us[i] {
                        self.us[i] = true;
                        reply.extend([IAC, WILL, option]);
                    }
                } else {
                    reply.extend([IAC, WONT, option]);
                }
            }
            _ => {
                if self.us[i] {
                    self.us[i] = false;
                    reply.extend([IAC, WONT, option]);
                }
            }
        }
    }
}

/// Data bytes as they go on the wire: IAC doubled.
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    out
}

/// A telnet connection.
pub struct TelnetLink {
    stream: TcpStream,
    negotiator: Negotiator,
    /// Data decoded but not yet handed out.
    ready: Vec<u8>,
}

fn io_error(e: &std::io::Error) -> LinkError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => LinkError::TimedOut,
        _ => LinkError::Broken(e.to_string()),
    }
}

/// A socket timeout for what is left of `deadline` (`None` = wait without limit).
fn socket_timeout(deadline: Deadline) -> Result<Option<Duration>, LinkError> {
    match deadline.remaining() {
        None => Ok(None),
        Some(left) if left.is_zero() => Err(LinkError::TimedOut),
        Some(left) => Ok(Some(left.max(Duration::from_millis(1)))),
    }
}

impl TelnetLink {
    /// Connect to `host:port` before `deadline`.
    pub fn connect(
        host: &str,
        port: u16,
        family: AddressFamily,
        deadline: Deadline,
    ) -> Result<TelnetLink, SshError> {
        let endpoint = Endpoint {
            host: host.to_string(),
            port,
            family,
            connect_timeout: None,
            described: format!("telnet {host}:{port}"),
        };
        let stream = tcp_connect(&endpoint, deadline)?;
        Ok(TelnetLink {
            stream,
            negotiator: Negotiator::new(),
            ready: Vec::new(),
        })
    }

    fn raw_send(&mut self, bytes: &[u8], deadline: Deadline) -> Result<(), LinkError> {
        self.stream
            .set_write_timeout(socket_timeout(deadline)?)
            .map_err(|e| io_error(&e))?;
        self.stream.write_all(bytes).map_err(|e| io_error(&e))
    }
}

impl Link for TelnetLink {
    fn send(&mut self, bytes: &[u8], deadline: Deadline) -> Result<(), LinkError> {
        self.raw_send(&escape(bytes), deadline)
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Deadline) -> Result<usize, LinkError> {
        let mut chunk = [0u8; 4096];
        while self.ready.is_empty() {
            self.stream
                .set_read_timeout(socket_timeout(deadline)?)
                .map_err(|e| io_error(&e))?;
            let n = self.stream.read(&mut chunk).map_err(|e| io_error(&e))?;
            if n == 0 {
                return Ok(0);
            }
            let fed = self
                .negotiator
                .feed(&chunk[..n])
                .map_err(LinkError::Broken)?;
            if !fed.reply.is_empty() {
                self.raw_send(&fed.reply, deadline)?;
            }
            self.ready = fed.data;
        }
        let n = buf.len().min(self.ready.len());
        buf[..n].copy_from_slice(&self.ready[..n]);
        self.ready.drain(..n);
        Ok(n)
    }

    fn shutdown(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inetutils_telnetd_opening_is_answered() {
        // What GNU inetutils telnetd sends first: DO TTYPE, DO TSPEED, DO XDISPLOC,
        // DO NEW-ENVIRON, then WILL ECHO, WILL SGA, DO NAWS, DO LFLOW, DO LINEMODE...
        let mut n = Negotiator::new();
        let fed = n
            .feed(&[
                IAC, WILL, 37, IAC, DO, 24, IAC, DO, 32, IAC, WILL, ECHO, IAC, WILL, SGA, IAC, DO,
                SGA, IAC, DO, 31, IAC, DO, 34,
            ])
            .unwrap();
        assert!(fed.data.is_empty());
        assert_eq!(
            fed.reply,
            [
                IAC, DONT, 37, IAC, WONT, 24, IAC, WONT, 32, IAC, DO, ECHO, IAC, DO, SGA, IAC,
                WILL, SGA, IAC, WONT, 31, IAC, WONT, 34
            ]
        );
        // Asked again: agreed options are not answered twice.
        let fed = n.feed(&[IAC, WILL, ECHO, IAC, DO, SGA]).unwrap();
        assert!(fed.reply.is_empty());
    }

    #[test]
    fn refusals_of_what_was_never_agreed_are_not_answered() {
        let mut n = Negotiator::new();
        let fed = n.feed(&[IAC, WONT, 24, IAC, DONT, 31]).unwrap();
        assert!(fed.reply.is_empty());
        n.feed(&[IAC, WILL, ECHO, IAC, DO, SGA]).unwrap();
        let fed = n.feed(&[IAC, WONT, ECHO, IAC, WONT, ECHO]).unwrap();
        assert_eq!(fed.reply, [IAC, DONT, ECHO]);
        let fed = n.feed(&[IAC, DONT, SGA, IAC, DONT, SGA]).unwrap();
        assert_eq!(fed.reply, [IAC, WONT, SGA]);
    }

    #[test]
    fn data_split_across_chunks_and_subnegotiation_skipped() {
        let mut n = Negotiator::new();
        let a = n.feed(&[b'a', b'p', IAC]).unwrap();
        let b = n
            .feed(&[
                SB, 24, 1, IAC, IAC, IAC, SE, b'c', b'>', b'\r', 0, b'\r', b'\n',
            ])
            .unwrap();
        assert_eq!(a.data, b"ap");
        assert_eq!(b.data, b"c>\r\r\n");
        let c = n.feed(&[IAC, IAC, b'x']).unwrap();
        assert_eq!(c.data, [IAC, b'x']);
    }

    #[test]
    fn endless_subnegotiation_is_an_error() {
        let mut n = Negotiator::new();
        n.feed(&[IAC, SB, 24]).unwrap();
        assert!(n.feed(&[b'x'; MAX_SUBNEGOTIATION + 1]).is_err());
    }

    #[test]
    fn iac_is_escaped() {
        assert_eq!(escape(&[b'a', IAC, b'b']), [b'a', IAC, IAC, b'b']);
    }
}
