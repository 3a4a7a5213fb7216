//! The service manager's protocols: notifications (sd_notify(3)) for `Type=notify` units,
//! and the journal's native protocol (structured entries, systemd.journal-fields(7)).
//!
//! A daemon started by systemd with `NOTIFY_SOCKET` set tells it when it is ready
//! (`READY=1`), what it is doing (`STATUS=...`), that it is alive (`WATCHDOG=1`, when the unit
//! has `WatchdogSec=` and so `WATCHDOG_USEC` is set for this process) and that it is stopping
//! (`STOPPING=1`). Without `NOTIFY_SOCKET` every call does nothing, so the daemons call these
//! unconditionally. Messages are one datagram each, sent on a Unix datagram socket (a path,
//! or an abstract name written `@name`).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `NOTIFY_SOCKET` names nothing we can send to.
    #[error("NOTIFY_SOCKET={0:?} is not a socket path or @abstract name")]
    Address(String),
    /// The datagram could not be sent.
    #[error("cannot notify the service manager at {socket:?}: {source}")]
    Send {
        /// The socket, as given in `NOTIFY_SOCKET`.
        socket: String,
        /// The error of the send.
        source: std::io::Error,
    },
}

/// One state line of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Start-up is finished: sockets bound, configuration loaded.
    Ready,
    /// Free text shown by `systemctl status`.
    Status(String),
    /// The daemon is alive (for `WatchdogSec=`).
    Watchdog,
    /// The daemon is shutting down.
    Stopping,
}

impl State {
    fn line(&self) -> String {
        match self {
            State::Ready => "READY=1".to_string(),
            // One line: a newline would start another assignment.
            State::Status(text) => format!("STATUS={}", text.replace(['\n', '\r'], " ")),
            State::Watchdog => "WATCHDOG=1".to_string(),
            State::Stopping => "STOPPING=1".to_string(),
        }
    }
}

/// Send `states` in one datagram to `NOTIFY_SOCKET`; `Ok(false)` when it is not set (not
/// started by systemd, or `Type=` is not notify).
pub fn notify(states: &[State]) -> Result<bool, NotifyError> {
    match std::env::var("NOTIFY_SOCKET") {
        Ok(socket) if !socket.is_empty() => notify_to(&socket, states).map(|()| true),
        _ => Ok(false),
    }
}

/// Send `states` to the socket `socket` (a path, or `@name` for an abstract socket).
pub fn notify_to(socket: &str, states: &[State]) -> Result<(), NotifyError> {
    let addr = if let Some(name) = socket.strip_prefix('@') {
        SocketAddr::from_abstract_name(name.as_bytes())
    } else if socket.starts_with('/') {
        SocketAddr::from_pathname(socket)
    } else {
        return Err(NotifyError::Address(socket.to_string()));
    }
    .map_err(|_| NotifyError::Address(socket.to_string()))?;
    let message: Vec<String> = states.iter().map(State::line).collect();
    let send = || -> std::io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        sock.send_to_addr(message.join("\n").as_bytes(), &addr)?;
        Ok(())
    };
    send().map_err(|source| NotifyError::Send {
        socket: socket.to_string(),
        source,
    })
}

/// The journal's socket, opened once; entries are sent on it without waiting (a journal that
/// is behind loses an entry rather than stalling a daemon that fences).
#[derive(Debug)]
pub struct SystemdJournal {
    sock: UnixDatagram,
    path: std::path::PathBuf,
}

impl SystemdJournal {
    /// The journal, when this process was started by systemd with its output going to the
    /// journal (`JOURNAL_STREAM` set) and the socket exists; `PALISADE_JOURNAL_SOCKET` names
    /// another socket (tests). None when there is none or it cannot be used.
    pub fn open() -> Option<SystemdJournal> {
        let path = match std::env::var_os("PALISADE_JOURNAL_SOCKET") {
            Some(path) => std::path::PathBuf::from(path),
            None => {
                std::env::var_os("JOURNAL_STREAM")?;
                let path = std::path::PathBuf::from("/run/systemd/journal/socket");
                path.exists().then_some(path)?
            }
        };
        SystemdJournal::at(path).ok()
    }

    /// The journal listening at `path`.
    pub fn at(path: std::path::PathBuf) -> std::io::Result<SystemdJournal> {
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        Ok(SystemdJournal { sock, path })
    }

    /// Send one entry.
    pub fn send(&self, fields: &[(String, String)]) -> std::io::Result<()> {
        self.sock.send_to(&journal_entry(fields), &self.path)?;
        Ok(())
    }
}

/// Whether `name` is a valid journal field name: A-Z, 0-9 and `_`, not starting with `_`
/// (those are the journal's own) or a digit, at most 64 bytes.
pub fn valid_field(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// One journal entry in the native protocol: `NAME=value` lines; a value holding a newline
/// is written as `NAME`, newline, its length (64-bit little endian), the bytes, newline.
/// Fields with invalid names are left out.
pub fn journal_entry(fields: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields.iter().filter(|(n, _)| valid_field(n)) {
        out.extend_from_slice(name.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// A `tracing` layer that writes each log event as a journal entry: `MESSAGE`, `PRIORITY`
/// (from the level), `SYSLOG_IDENTIFIER`, `PALISADE_TARGET` and one `PALISADE_<FIELD>` per
/// field of the event (`journalctl -u palisade-fencer PALISADE_DEVICE=ipmi-node1`).
pub struct JournalLayer {
    journal: SystemdJournal,
    identifier: &'static str,
}

impl JournalLayer {
    /// Entries to `journal`, under `identifier`.
    pub fn new(journal: SystemdJournal, identifier: &'static str) -> JournalLayer {
        JournalLayer {
            journal,
            identifier,
        }
    }
}

struct FieldVisitor(Vec<(String, String)>);

impl tracing::field::Visit for FieldVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.add(field.name(), value.to_string());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.add(field.name(), format!("{value:?}"));
    }
}

impl FieldVisitor {
    fn add(&mut self, name: &str, value: String) {
        let name = if name == "message" {
            "MESSAGE".to_string()
        } else {
            format!("PALISADE_{}", name.to_ascii_uppercase())
        };
        self.0.push((name, value));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for JournalLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let meta = event.metadata();
        let priority = match *meta.level() {
            tracing::Level::ERROR => "3",
            tracing::Level::WARN => "4",
            tracing::Level::INFO => "6",
            _ => "7",
        };
        let mut fields = FieldVisitor(vec![
            ("PRIORITY".to_string(), priority.to_string()),
            ("SYSLOG_IDENTIFIER".to_string(), self.identifier.to_string()),
            ("PALISADE_TARGET".to_string(), meta.target().to_string()),
        ]);
        event.record(&mut fields);
        // A journal that cannot take the entry must not stop the daemon.
        let _ = self.journal.send(&fields.0);
    }
}

/// How often to send [`State::Watchdog`]: half of `WATCHDOG_USEC` (as sd_watchdog_enabled(3)
/// advises), when it is set for this process (`WATCHDOG_PID` absent or ours).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_interval`] from given values (unit-tested without the environment).
pub fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(me) {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_reach_a_path_socket_as_one_datagram() {
        let dir = std::env::temp_dir().join(format!("palisade-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        notify_to(
            path.to_str().unwrap(),
            &[State::Ready, State::Status("serving\n2 devices".into())],
        )
        .unwrap();
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving 2 devices");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn abstract_sockets_are_written_with_an_at_sign() {
        let name = format!("palisade-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), &[State::Watchdog]).unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }

    #[test]
    fn a_relative_or_missing_socket_is_an_error_and_nothing_is_sent() {
        assert!(matches!(
            notify_to("relative.sock", &[State::Ready]),
            Err(NotifyError::Address(_))
        ));
        assert!(matches!(
            notify_to("/nonexistent/palisade/notify.sock", &[State::Ready]),
            Err(NotifyError::Send { .. })
        ));
    }

    #[test]
    fn journal_entries_use_the_native_protocol() {
        let fields = vec![
            ("MESSAGE".to_string(), "node1 dead".to_string()),
            ("PALISADE_DETAIL".to_string(), "two\nlines".to_string()),
            ("_PID".to_string(), "1".to_string()),
            ("lower".to_string(), "x".to_string()),
        ];
        let mut want = b"MESSAGE=node1 dead\nPALISADE_DETAIL\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\n");
        assert_eq!(journal_entry(&fields), want);
        assert!(valid_field("PALISADE_KIND"));
        assert!(!valid_field("9X") && !valid_field("") && !valid_field("A-B"));
    }

    #[test]
    fn the_watchdog_interval_is_half_the_timeout_for_this_process_only() {
        assert_eq!(
            watchdog_interval_from(Some("20000000"), None, 7),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            watchdog_interval_from(Some("20000000"), Some("7"), 7),
            Some(Duration::from_secs(10))
        );
        assert_eq!(watchdog_interval_from(Some("20000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
    }
}
