//! The node's events as typed records: every timeline line is one [`Event`], rendered as
//! the human text of the timeline ([`Event::text`], the column [`Event::class`]) and as a
//! JSON object (`serde`, the variant in the field `kind`) for the `[cluster] events` file
//! ([`super::timeline`]). One value gives both, so the two never disagree.
//!
//! Durations are whole milliseconds in fields ending in `_ms`; nodes are named (`peer`:
//! another node the event is about, `target`: a node fenced); lists of nodes are arrays of
//! names.

use serde::Serialize;

use super::fencing::{FenceRoute, FencedBy};
use super::resources::OcfRc;

/// The timeline's third column: what area an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Daemon start and stop.
    Daemon,
    /// A peer joined, is late, or died; rings and links.
    Detect,
    /// Quorum verdicts and tie-breakers.
    Quorum,
    /// Fence requests and results.
    Fence,
    /// Placement decisions, admin records and blocked actions.
    Place,
    /// Resource operations on this node.
    Resource,
    /// Something went wrong that is not fatal.
    Warn,
}

impl Class {
    /// The word of the timeline column.
    pub fn word(self) -> &'static str {
        match self {
            Class::Daemon => "daemon",
            Class::Detect => "detect",
            Class::Quorum => "quorum",
            Class::Fence => "fence",
            Class::Place => "place",
            Class::Resource => "resource",
            Class::Warn => "warn",
        }
    }
}

/// A resource operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Start,
    Stop,
    Promote,
    Demote,
}

impl Op {
    fn word(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Promote => "promote",
            Op::Demote => "demote",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Op::Start => "started",
            Op::Stop => "stopped",
            Op::Promote => "promoted",
            Op::Demote => "demoted",
        }
    }
}

/// Which limit declared a peer dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLimit {
    /// Heard before, silent for deadtime.
    Deadtime,
    /// Never heard since this node started.
    Initdead,
}

/// Why a resource is left stopped on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftStoppedCause {
    /// A failed start counts INFINITY.
    StartFailureIsFatal,
    /// As many failures as the migration-threshold.
    MigrationThreshold,
}

/// The answers of the external tie-breakers a verdict was given with (None: not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TieBreakerAnswers {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<bool>,
}

/// A member's view that differs from ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub peer: String,
    pub sees: Vec<String>,
}

/// One event of the node (a timeline line, a JSON record).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    // --- daemon ---
    /// The daemon started.
    Start {
        cluster: u32,
        incarnation: u64,
        pid: u32,
        rings: usize,
        keepalive_ms: u64,
        deadtime_ms: u64,
        initdead_ms: u64,
    },
    /// The control socket listens.
    ControlSocket { path: String },
    /// The configured tie-breakers.
    TieBreakers {
        ping: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        disk: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        disk_slot: Option<u8>,
    },
    /// The sbd health file cannot be written (said once).
    HealthFileUnwritable { path: String, error: String },
    /// The run ends (`ending`: stopped, fenced_by_peer, self_fenced, self_fence_failed).
    Stopping { ending: super::driver::Ending },
    /// Every local resource stopped (or the wait ended).
    Stopped,
    /// Every local resource is stopped: this node tells its peers it leaves (a clean
    /// leave: they drop it without fencing).
    Leaving { incarnation: u64 },

    // --- warn ---
    /// The admin records could not be read at start.
    AdminStateUnreadable { error: String },
    /// The admin records could not be written.
    AdminStateUnwritable { path: String, error: String },
    /// The promotion-score shim could not be set up.
    NoPromotionShim { dir: String, error: String },
    /// The control socket could not be bound.
    NoControlSocket { error: String },
    /// The self-fence executor returned.
    SelfFenceFailed { error: String },
    /// Resources still stopping when the daemon gave up waiting.
    StopTimedOut,
    /// No clean leave: these local instances are not stopped (or a stop failed); the
    /// peers will fence this node.
    NotLeaving { still: Vec<String> },
    /// A datagram was refused (said at the 1st, 2nd, 4th, 8th... drop).
    DatagramDropped {
        count: u64,
        ring: usize,
        reason: String,
    },

    // --- detect ---
    /// A peer is heard (joined).
    PeerUp { peer: String, incarnation: u64 },
    /// A peer announced a clean leave (its report: everything stopped).
    PeerLeaving { peer: String, incarnation: u64 },
    /// A peer that announced a clean leave is gone: out of the view, not fenced.
    PeerLeft { peer: String, incarnation: u64 },
    /// A fenced peer is heard in a new incarnation.
    PeerUpAgain { peer: String, incarnation: u64 },
    /// A peer is silent for warntime.
    PeerLate {
        peer: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        silent_ms: Option<u64>,
        warntime_ms: u64,
    },
    /// A peer is dead (silent for deadtime, or never heard within initdead).
    PeerDead {
        peer: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        silent_ms: Option<u64>,
        limit: DeadLimit,
        limit_ms: u64,
    },
    /// A peer heard but announcing views without this node: out of the view.
    OneSided { peer: String, for_ms: u64 },
    /// A peer and members that do not list each other: the peer is left out.
    LeftOut {
        peer: String,
        unlinked_from: Vec<String>,
        kept: Vec<String>,
        for_ms: u64,
    },
    /// A peer left out is taken back.
    TakenBack { peer: String },
    /// A one-sided peer lists this node again.
    ListsUsAgain { peer: String },
    /// A peer heard but never echoing this node's challenge: not counted.
    Unproven {
        peer: String,
        for_ms: u64,
        incarnation: u64,
    },
    /// One ring to a peer works again.
    RingWorks { peer: String, ring: usize },
    /// One ring to a peer is silent while another works.
    RingSilent {
        peer: String,
        ring: usize,
        for_ms: u64,
    },

    // --- quorum ---
    /// The ping tie-breaker's targets: `silent` those not answering (empty: all answer).
    PingAnswers { silent: Vec<String> },
    /// An exact half: the sbd disk decides; `claimant` claims it (`mine`: this node).
    DiskDecides {
        #[serde(skip_serializing_if = "Option::is_none")]
        claimant: Option<String>,
        mine: bool,
        patience_ms: u64,
    },
    /// The disk tie-breaker's answer changed.
    DiskAnswer { held: bool, why: String },
    /// A quorate view not agreed by every member yet.
    NotAgreed {
        members: Vec<String>,
        waited_ms: u64,
        theirs: Vec<Seen>,
    },
    /// A view applied with its quorum verdict (`still`: the verdict did not change).
    Quorum {
        quorate: bool,
        reason: String,
        votes: u32,
        expected: u32,
        needed: u32,
        members: Vec<String>,
        view: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        tie_breakers: Option<TieBreakerAnswers>,
        #[serde(skip_serializing_if = "Option::is_none")]
        policy: Option<String>,
        still: bool,
    },

    // --- fence ---
    /// A fence request (`via` and its fields: how).
    FenceRequest {
        target: String,
        action: String,
        #[serde(flatten)]
        route: FenceRoute,
        delay_ms: u64,
        reason: String,
    },
    /// A peer reports it fenced `target`.
    FenceConfirmed { target: String },
    /// This node fenced `target`.
    Fenced {
        target: String,
        how: FencedBy,
        detail: String,
        elapsed_ms: u64,
    },
    /// A fence request failed (it is retried).
    FenceFailed {
        target: String,
        reason: String,
        elapsed_ms: u64,
    },
    /// A peer reports it fenced this node: everything stops.
    FencedByPeer { peer: String, incarnation: u64 },
    /// This node fences itself.
    SelfFence { reason: String },
    /// The test executor recorded the self-fence.
    SelfFenceRecorded,

    // --- place ---
    /// A peer's admin records were merged.
    AdminMerged { peer: String },
    /// An admin command was taken (`said`: what the command answered).
    Admin { said: String },
    /// A resource's placement decision changed (`target`: where it starts).
    Placement {
        resource: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        decision: String,
    },
    /// A ready action waits.
    Waiting { action: String, why: String },

    // --- resource ---
    /// An operation on a local instance begins.
    ResourceAction {
        action: Op,
        resource: String,
        reason: String,
    },
    /// An operation succeeded.
    ResourceDone {
        action: Op,
        resource: String,
        elapsed_ms: u64,
    },
    /// A start failed (`failures`: the failcount now).
    StartFailed {
        resource: String,
        rc: OcfRc,
        failures: u32,
        infinity: bool,
    },
    /// A promote failed.
    PromoteFailed {
        resource: String,
        rc: OcfRc,
        failures: u32,
    },
    /// A demote failed.
    DemoteFailed {
        resource: String,
        rc: OcfRc,
        failures: u32,
    },
    /// A stop failed: the state is unknown.
    StopFailed {
        resource: String,
        rc: OcfRc,
        fencing: bool,
    },
    /// A recurring monitor failed.
    MonitorFailed {
        resource: String,
        rc: OcfRc,
        failures: u32,
        threshold_reached: bool,
    },
    /// The start-up probe found it stopped.
    ProbedStopped { resource: String, rc: OcfRc },
    /// The start-up probe found it running (a leftover): it is stopped.
    ProbedRunning { resource: String, promoted: bool },
    /// Probed again after maintenance.
    Reprobed { resource: String, rc: OcfRc },
    /// The agent set (or removed: None) its promotion score.
    PromotionScore {
        resource: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        score: Option<String>,
    },
    /// A promotion is intended: the coordinator grants it.
    PromotionIntended { resource: String, reason: String },
    /// A promotion no longer intended.
    PromotionWithdrawn { resource: String },
    /// A primitive is left stopped on this node.
    LeftStopped {
        resource: String,
        cause: LeftStoppedCause,
        failures: u32,
        threshold: u32,
    },
    /// Failures forgotten by a cleanup.
    Cleanup { resources: Vec<String> },
    /// Failures forgotten by failure-timeout.
    FailuresExpired { resource: String },
    /// Maintenance mode on this node began or ended.
    Maintenance { on: bool },
}

impl Event {
    /// The timeline column.
    pub fn class(&self) -> Class {
        use Event::*;
        match self {
            Start { .. }
            | ControlSocket { .. }
            | TieBreakers { .. }
            | HealthFileUnwritable { .. }
            | Stopping { .. }
            | Stopped
            | Leaving { .. } => Class::Daemon,
            AdminStateUnreadable { .. }
            | AdminStateUnwritable { .. }
            | NoPromotionShim { .. }
            | NoControlSocket { .. }
            | SelfFenceFailed { .. }
            | StopTimedOut
            | NotLeaving { .. }
            | DatagramDropped { .. } => Class::Warn,
            PeerUp { .. }
            | PeerLeaving { .. }
            | PeerLeft { .. }
            | PeerUpAgain { .. }
            | PeerLate { .. }
            | PeerDead { .. }
            | OneSided { .. }
            | LeftOut { .. }
            | TakenBack { .. }
            | ListsUsAgain { .. }
            | Unproven { .. }
            | RingWorks { .. }
            | RingSilent { .. } => Class::Detect,
            PingAnswers { .. }
            | DiskDecides { .. }
            | DiskAnswer { .. }
            | NotAgreed { .. }
            | Quorum { .. } => Class::Quorum,
            FenceRequest { .. }
            | FenceConfirmed { .. }
            | Fenced { .. }
            | FenceFailed { .. }
            | FencedByPeer { .. }
            | SelfFence { .. }
            | SelfFenceRecorded => Class::Fence,
            AdminMerged { .. } | Admin { .. } | Placement { .. } | Waiting { .. } => Class::Place,
            ResourceAction { .. }
            | ResourceDone { .. }
            | StartFailed { .. }
            | PromoteFailed { .. }
            | DemoteFailed { .. }
            | StopFailed { .. }
            | MonitorFailed { .. }
            | ProbedStopped { .. }
            | ProbedRunning { .. }
            | Reprobed { .. }
            | PromotionScore { .. }
            | PromotionIntended { .. }
            | PromotionWithdrawn { .. }
            | LeftStopped { .. }
            | Cleanup { .. }
            | FailuresExpired { .. }
            | Maintenance { .. } => Class::Resource,
        }
    }

    /// The human text of the timeline line (after the node and the column).
    pub fn text(&self) -> String {
        use Event::*;
        let silent = |s: &Option<u64>| match s {
            Some(ms) => format!("silent for {ms}ms"),
            None => "never heard".to_string(),
        };
        match self {
            Start {
                cluster,
                incarnation,
                pid,
                rings,
                keepalive_ms,
                deadtime_ms,
                initdead_ms,
            } => format!(
                "start: cluster {cluster} incarnation {incarnation} pid {pid} rings {rings} keepalive {keepalive_ms}ms deadtime {deadtime_ms}ms initdead {initdead_ms}ms"
            ),
            ControlSocket { path } => format!("control socket {path}"),
            TieBreakers {
                ping,
                disk,
                disk_slot,
            } => {
                let mut parts = Vec::new();
                if !ping.is_empty() {
                    parts.push(format!("ping {}", ping.join(" ")));
                }
                if let Some(d) = disk {
                    let slot = disk_slot.map(|s| s.to_string()).unwrap_or_default();
                    parts.push(format!("disk {d} (sbd slot {slot})"));
                }
                format!("tie-breakers: {}", parts.join(", "))
            }
            HealthFileUnwritable { path, error } => {
                format!("cannot write sbd health file {path}: {error}")
            }
            Stopping { ending } => format!("stopping ({ending:?}): stopping local resources"),
            Stopped => "stopped".to_string(),
            AdminStateUnreadable { error } => format!("admin state: {error}"),
            AdminStateUnwritable { path, error } => {
                format!("cannot write the admin state {path}: {error}")
            }
            NoPromotionShim { dir, error } => format!(
                "no promotion-score shim under {dir}: {error}; promotable clones will not be promoted"
            ),
            NoControlSocket { error } => format!("no control socket: {error}"),
            SelfFenceFailed { error } => {
                format!("self-fence did not happen: {error}; stopping resources and exiting")
            }
            StopTimedOut => "resources did not all stop in time".to_string(),
            Leaving { incarnation } => format!(
                "every resource stopped: leaving the cluster cleanly (incarnation {incarnation})"
            ),
            NotLeaving { still } => format!(
                "no clean leave: {} not stopped; the peers will fence this node",
                still.join(" ")
            ),
            PeerLeaving { peer, incarnation } => format!(
                "{peer} leaves cleanly (incarnation {incarnation}): everything it ran is stopped"
            ),
            PeerLeft { peer, incarnation } => format!(
                "{peer} left cleanly (incarnation {incarnation}): out of the view, not fenced"
            ),
            DatagramDropped {
                count,
                ring,
                reason,
            } => format!("dropped datagram #{count} on ring {ring}: {reason}"),
            PeerUp { peer, incarnation } => format!("{peer} up (incarnation {incarnation})"),
            PeerUpAgain { peer, incarnation } => {
                format!("{peer} up again (incarnation {incarnation}) after its fence")
            }
            PeerLate {
                peer,
                silent_ms,
                warntime_ms,
            } => format!(
                "{peer} late: {} (warntime {warntime_ms}ms)",
                silent(silent_ms)
            ),
            PeerDead {
                peer,
                silent_ms,
                limit,
                limit_ms,
            } => {
                let limit = match limit {
                    DeadLimit::Deadtime => "deadtime",
                    DeadLimit::Initdead => "initdead",
                };
                format!("{peer} dead: {} ({limit} {limit_ms}ms)", silent(silent_ms))
            }
            OneSided { peer, for_ms } => format!(
                "{peer} one-sided: heard, but announcing views without this node for {for_ms}ms: out of the view"
            ),
            LeftOut {
                peer,
                unlinked_from,
                kept,
                for_ms,
            } => format!(
                "{peer} left out: it and [{}] do not list each other for {for_ms}ms; the largest fully connected set is [{}]",
                unlinked_from.join(" "),
                kept.join(" ")
            ),
            TakenBack { peer } => {
                format!("{peer} taken back: no longer unlinked from a member")
            }
            ListsUsAgain { peer } => format!("{peer} lists this node again (it hears us)"),
            Unproven {
                peer,
                for_ms,
                incarnation,
            } => format!(
                "{peer} heard for {for_ms}ms (incarnation {incarnation}) but it never echoed this node's challenge: not counted"
            ),
            RingWorks { peer, ring } => format!("ring {ring} to {peer} works again"),
            RingSilent { peer, ring, for_ms } => format!(
                "ring {ring} to {peer} silent for {for_ms}ms (node still heard on the other ring)"
            ),
            PingAnswers { silent } => {
                if silent.is_empty() {
                    "ping: every target answers".to_string()
                } else {
                    format!("ping: no answer from {}", silent.join(" "))
                }
            }
            DiskDecides {
                claimant,
                mine,
                patience_ms,
            } => {
                let who = match (claimant, mine) {
                    (Some(_), true) => "this node claims it".to_string(),
                    (Some(c), false) => format!("{c} claims it"),
                    (None, _) => String::new(),
                };
                format!(
                    "exact half: the sbd disk decides ({who}); nothing changes for up to {patience_ms}ms"
                )
            }
            DiskAnswer { held, why } => format!(
                "disk tie-breaker: {} ({why})",
                if *held {
                    "held by this partition"
                } else {
                    "not held"
                }
            ),
            NotAgreed {
                members,
                waited_ms,
                theirs,
            } => {
                let theirs: Vec<String> = theirs
                    .iter()
                    .map(|s| format!("{} sees [{}]", s.peer, s.sees.join(" ")))
                    .collect();
                format!(
                    "view [{}] not agreed after {waited_ms}ms: {}; nothing is decided until it is",
                    members.join(" "),
                    theirs.join(", ")
                )
            }
            Quorum {
                quorate,
                reason,
                members,
                view,
                policy,
                still,
                ..
            } => {
                let text = format!(
                    "{}: {reason} (members: {}; view {view})",
                    if *quorate { "quorate" } else { "NOT quorate" },
                    members.join(" ")
                );
                if *still {
                    format!("view changed, still {text}")
                } else {
                    match policy {
                        Some(p) => format!("{text} -> no-quorum-policy={p}"),
                        None => text,
                    }
                }
            }
            FenceRequest {
                target,
                action,
                route,
                delay_ms,
                reason,
            } => format!("request {action} {target} via {route} (delay {delay_ms}ms): {reason}"),
            FenceConfirmed { target } => format!("{target} confirmed fenced (reported by a peer)"),
            Fenced {
                target,
                detail,
                elapsed_ms,
                ..
            } => format!("{target} fenced: {detail} in {elapsed_ms}ms"),
            FenceFailed {
                target,
                reason,
                elapsed_ms,
            } => format!("fencing {target} FAILED after {elapsed_ms}ms: {reason}"),
            FencedByPeer { peer, incarnation } => format!(
                "{peer} reports it fenced this node (incarnation {incarnation}): stopping everything"
            ),
            SelfFence { reason } => format!("SELF-FENCE: {reason}"),
            SelfFenceRecorded => {
                "self-fence recorded (test executor): stopping resources and exiting".to_string()
            }
            AdminMerged { peer } => format!("admin records updated from {peer}"),
            Admin { said } => format!("admin: {said}"),
            Placement {
                resource,
                target,
                decision,
            } => match target {
                Some(t) => format!("{resource} -> {t}: {decision}"),
                None => format!("{resource}: {decision}"),
            },
            Waiting { action, why } => format!("waiting: {action}: {why}"),
            ResourceAction {
                action,
                resource,
                reason,
            } => format!("{} {resource} ({reason})", action.word()),
            ResourceDone {
                action,
                resource,
                elapsed_ms,
            } => format!("{resource} {} in {elapsed_ms}ms", action.done()),
            StartFailed {
                resource,
                rc,
                failures,
                infinity,
            } => {
                let attempt = if *infinity {
                    "failcount INFINITY".to_string()
                } else {
                    format!("attempt {failures}")
                };
                format!("start {resource} failed ({rc}), {attempt}")
            }
            PromoteFailed {
                resource,
                rc,
                failures,
            } => format!(
                "promote {resource} FAILED ({rc}), failure {failures}: counted as promoted until it is demoted"
            ),
            DemoteFailed {
                resource,
                rc,
                failures,
            } => format!(
                "demote {resource} FAILED ({rc}), failure {failures}: still counted as promoted"
            ),
            StopFailed {
                resource,
                rc,
                fencing,
            } => format!(
                "stop {resource} FAILED ({rc}): state unknown; {}",
                if *fencing {
                    "this node must be fenced"
                } else {
                    "blocked here (fencing disabled): clean up by hand"
                }
            ),
            MonitorFailed {
                resource,
                rc,
                failures,
                threshold_reached,
            } => format!(
                "monitor {resource} failed ({rc}), failure {failures}: {}",
                if *threshold_reached {
                    "migration-threshold reached"
                } else {
                    "restarting"
                }
            ),
            ProbedStopped { resource, rc } => format!("probe {resource}: not running here ({rc})"),
            ProbedRunning { resource, promoted } => format!(
                "probe {resource}: left running from before{}, stopping it",
                if *promoted { " (promoted)" } else { "" }
            ),
            Reprobed { resource, rc } => format!("probe {resource} after maintenance: {rc}"),
            PromotionScore { resource, score } => match score {
                Some(s) => format!("{resource}: promotion score {s}"),
                None => format!("{resource}: promotion score removed"),
            },
            PromotionIntended { resource, reason } => format!(
                "promotion of {resource} intended ({reason}): waiting for the coordinator"
            ),
            PromotionWithdrawn { resource } => format!("promotion of {resource} no longer intended"),
            LeftStopped {
                resource,
                cause,
                failures,
                threshold,
            } => match cause {
                LeftStoppedCause::StartFailureIsFatal => format!(
                    "{resource}: start failed, left stopped here (start-failure-is-fatal)"
                ),
                LeftStoppedCause::MigrationThreshold => format!(
                    "{resource}: {failures} failures, left stopped here (migration-threshold {threshold})"
                ),
            },
            Cleanup { resources } => {
                format!("cleanup: failures of {} forgotten", resources.join(", "))
            }
            FailuresExpired { resource } => {
                format!("failures of {resource} expired (failure-timeout)")
            }
            Maintenance { on } => if *on {
                "maintenance: resources left alone here (not started, stopped or monitored)"
            } else {
                "maintenance over: probing every resource again"
            }
            .to_string(),
        }
    }
}

/// Whole milliseconds of a duration, for the `_ms` fields.
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_gives_the_text_and_the_record() {
        let e = Event::PeerDead {
            peer: "node1".into(),
            silent_ms: Some(1000),
            limit: DeadLimit::Deadtime,
            limit_ms: 1000,
        };
        assert_eq!(e.class(), Class::Detect);
        assert_eq!(e.text(), "node1 dead: silent for 1000ms (deadtime 1000ms)");
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"kind": "peer_dead", "peer": "node1", "silent_ms": 1000,
                "limit": "deadtime", "limit_ms": 1000})
        );
    }

    #[test]
    fn a_fence_request_carries_its_route_flat() {
        let e = Event::FenceRequest {
            target: "node1".into(),
            action: "off".into(),
            route: FenceRoute::Agent {
                agent: "fence_ipmilan".into(),
            },
            delay_ms: 0,
            reason: "node 1 lost; partition is quorate".into(),
        };
        assert_eq!(
            e.text(),
            "request off node1 via agent fence_ipmilan (delay 0ms): node 1 lost; partition is quorate"
        );
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["kind"], "fence_request");
        assert_eq!(v["via"], "agent");
        assert_eq!(v["agent"], "fence_ipmilan");
    }

    #[test]
    fn quorum_verdicts_keep_their_two_wordings() {
        let verdict = |still| Event::Quorum {
            quorate: false,
            reason: "1 of 3 votes, 2 needed".into(),
            votes: 1,
            expected: 3,
            needed: 2,
            members: vec!["node1".into()],
            view: 4,
            tie_breakers: None,
            policy: Some("stop".into()),
            still,
        };
        assert_eq!(
            verdict(false).text(),
            "NOT quorate: 1 of 3 votes, 2 needed (members: node1; view 4) -> no-quorum-policy=stop"
        );
        assert_eq!(
            verdict(true).text(),
            "view changed, still NOT quorate: 1 of 3 votes, 2 needed (members: node1; view 4)"
        );
    }

    #[test]
    fn rc_is_a_code_and_a_name() {
        let e = Event::Reprobed {
            resource: "web".into(),
            rc: OcfRc::NotRunning,
        };
        assert_eq!(e.text(), "probe web after maintenance: 7 OCF_NOT_RUNNING");
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(
            v["rc"],
            serde_json::json!({"code": 7, "name": "OCF_NOT_RUNNING"})
        );
    }
}
