//! The inquisitor's vocabulary: mailbox commands, events in, actions out, phases.

use std::time::Duration;

/// A mailbox command as decoded from the (signed) command byte of a mailbox sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailboxCommand {
    Clear,
    Test,
    Reset,
    Off,
    Exit,
    Crashdump,
    /// Any other byte (negative values included).
    Unknown(u8),
}

impl MailboxCommand {
    /// Decode sbd's command byte: 0 clear, 1 test, 2 reset, 3 off, 4 exit, 5 crashdump.
    pub fn from_byte(b: u8) -> MailboxCommand {
        match b {
            0 => MailboxCommand::Clear,
            1 => MailboxCommand::Test,
            2 => MailboxCommand::Reset,
            3 => MailboxCommand::Off,
            4 => MailboxCommand::Exit,
            5 => MailboxCommand::Crashdump,
            other => MailboxCommand::Unknown(other),
        }
    }

    /// The word `sbd list` prints (`undefined` for unknown codes).
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxCommand::Clear => "clear",
            MailboxCommand::Test => "test",
            MailboxCommand::Reset => "reset",
            MailboxCommand::Off => "off",
            MailboxCommand::Exit => "exit",
            MailboxCommand::Crashdump => "crashdump",
            MailboxCommand::Unknown(_) => "undefined",
        }
    }
}

/// How the node takes itself out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FenceKind {
    /// Reboot (sysrq `b`).
    Reset,
    /// Power off (sysrq `o`).
    Off,
    /// Kernel crash dump (sysrq `c`).
    Crashdump,
}

/// `SBD_TIMEOUT_ACTION` in pure form: what to do when the watchdog starved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnTimeout {
    pub kind: FenceKind,
    /// `flush` (sync before acting) or `noflush`.
    pub flush: bool,
}

impl Default for OnTimeout {
    fn default() -> OnTimeout {
        OnTimeout {
            kind: FenceKind::Reset,
            flush: true,
        }
    }
}

/// What the palisade daemon says about this node's cluster membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterHealth {
    /// In a quorate partition and healthy.
    QuorateHealthy,
    /// Not in a quorate partition.
    NotQuorate,
    /// Quorate, but the node is unclean or the daemon is not healthy.
    Unhealthy,
}

/// A cluster-side servant: where the inquisitor hears about the cluster. ClusterLabs sbd
/// runs a pacemaker and a cluster (corosync) servant; palisade's own cluster reports through
/// the health file the `palisade node` daemon refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClusterServant {
    /// The palisade daemon's health file (`--health-file`).
    Palisade,
    /// This node as pacemaker sees it (sbd's pcmk servant).
    Pacemaker,
    /// Corosync membership and quorum (sbd's cluster servant).
    Corosync,
}

impl ClusterServant {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterServant::Palisade => "palisade",
            ClusterServant::Pacemaker => "pcmk",
            ClusterServant::Corosync => "cluster",
        }
    }
}

/// What a cluster servant reports, in the three ways ClusterLabs' servants notify their
/// inquisitor: `Online` renews the servant's liveness, `Unhealthy` ends it at once, and
/// `Transient` (pending, no DC yet, quorum lost under a freeze/stop/ignore policy, CIB
/// reconnecting) says nothing, so the last liveness ages out after I/O + loop timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServantHealth {
    Online,
    Transient,
    Unhealthy,
}

impl From<ClusterHealth> for ServantHealth {
    fn from(health: ClusterHealth) -> ServantHealth {
        match health {
            ClusterHealth::QuorateHealthy => ServantHealth::Online,
            ClusterHealth::NotQuorate | ClusterHealth::Unhealthy => ServantHealth::Unhealthy,
        }
    }
}

/// Why a servant round failed (I/O error, header or slot changed, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServantFailure {
    pub reason: String,
}

/// Input to the inquisitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A device servant finished a round: the mailbox it read (`None`: empty) or an error.
    ServantReport {
        device: usize,
        result: Result<Option<MailboxCommand>, ServantFailure>,
    },
    /// The driver gave up waiting for a device servant's round.
    ServantTimedOut { device: usize },
    /// A cluster health report from the palisade daemon (the [`ClusterServant::Palisade`]
    /// servant).
    ClusterHealth(ClusterHealth),
    /// A report of a cluster servant, with what it saw (for the log).
    ClusterServant {
        servant: ClusterServant,
        health: ServantHealth,
        detail: String,
    },
    /// Pacemaker shut down gracefully on this node (pacemakerd reported shutdown
    /// complete): back to the state before the cluster appeared, as sbd does when its
    /// pcmk servant exits with its graceful-shutdown code.
    ClusterShutdown { servant: ClusterServant },
    /// SIGTERM or an operator stop: clean exit.
    StopRequested,
    /// Time passes: evaluate quorum, pet, check the watchdog deadline.
    Tick,
}

/// Log severity, syslog-like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

/// Why the node fences itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceCause {
    /// A `reset`, `off` or `crashdump` message in the node's slot on `device`.
    Message {
        device: usize,
        command: MailboxCommand,
    },
    /// Nothing petted the watchdog for `since_last_pet` (> watchdog timeout).
    WatchdogStarved { since_last_pet: Duration },
}

/// Output of the inquisitor, to be carried out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open the watchdog, set its timeout and pet it once (first healthy round).
    ArmWatchdog,
    /// Keep the armed watchdog alive.
    PetWatchdog,
    /// Zero the node's mailbox on `device`.
    ClearMessage {
        device: usize,
    },
    /// Take the node down. Do NOT disarm the watchdog (for crashdump the driver may give
    /// it a long timeout). Terminal.
    SelfFence {
        kind: FenceKind,
        flush: bool,
        cause: FenceCause,
    },
    /// Stop servants, disarm the watchdog with the magic close, exit 0. Terminal.
    CleanExit,
    /// Start-up failed before the watchdog was armed: exit non-zero without fencing.
    AbortStartup {
        reason: String,
    },
    Log {
        level: LogLevel,
        message: String,
    },
}

/// Where the inquisitor is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the first healthy round; the watchdog is not armed.
    Starting,
    /// Armed and watching.
    Running,
    /// Clean exit decided.
    Exiting,
    /// Self-fence decided.
    Fenced,
    /// Start-up aborted.
    Aborted,
}
