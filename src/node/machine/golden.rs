//! Golden "inputs in → actions out" transcripts of the node machine.
//!
//! Each file in `src/node/machine/golden/` is a transcript: comment lines (`#`), an
//! indented node configuration (the real TOML of `palisade node`) after `config:`, then
//! input lines starting with `@<ms>`, each followed by what the machine did (`  > ...`).
//! The test replays the inputs and compares the whole transcript;
//! `PALISADE_BLESS=1 cargo test` rewrites the files (review the diff: they are a spec).
//!
//! Inputs (node names as configured; peers' incarnation is 1000 + id unless `inc=`):
//! - `@T tick`: time passed.
//! - `@T hb NODE.. [members=A,B|none] [inc=N] [ring=R] [noecho]`: a heartbeat of each
//!   NODE listing `members` (default: every node), echoing our challenge (unless
//!   `noecho`); `beat` is the same followed by each NODE's report.
//! - `@T report NODE [inc=N] [fenced=NODE@INC[~AGE],..] [running=PRIM,..] [failed=PRIM,..] [leaving]
//!   [grants=start|promote|promote-confirmed:RES@NODE,..]`: a fence that started AGE ms
//!   before (without `~AGE`: a version 3 report's, of no age); the node's admin records
//!   (see `admin`) go with every report of it.
//! - `@T admin NODE move RES TO | ban RES FROM | standby on|off`: an admin command given
//!   on NODE (a peer): its records are in NODE's next reports.
//! - `@T plan`: the scheduling step (wall clock: a fixed start + T).
//! - `@T leave`: this node ends (after a clean stop): announce the leave if it may.
//! - `@T answers [ping=yes|no] [disk=yes|no] [pending]`: what the tie-breakers answer
//!   from now on (default: no answers, nothing pending).
//! - `@T fenced NODE ok|failed [ms=N]`: the end of a fence this node asked for.
//! - `@T plan-fence NODE [why..]`: the plan asks to fence NODE (a stop failed there).
//! - `@T running PRIM@NODE..`: what runs where (race weights); `@T running` is nothing.
//! - `@T maintenance on|off`: maintenance applies on this node.
//! - `@T probe INST stopped|running|promoted` (at start), `@T reprobe INST
//!   stopped|running|failed` (after maintenance), `@T done INST start|stop|promote|demote`,
//!   `@T failed INST start|stop|promote|demote|monitor [threshold=N] [fatal] [promotable]`:
//!   what the actor of a local instance reports (rules: the primitive's failure rules).
//! - `@T order start|stop|promote|demote INST [why..]`, `@T intend INST`,
//!   `@T settle [INST..]`: the plan's steps for local instances.
//! - `@T cleanup PRIM`, `@T expire PRIM=MS..`: forget failures (failure-timeout MS).
//! - `@T stop-all [why..]`: stop every local instance (no quorum, the node stopping).
//! - `@T status NODE`: how fencing sees NODE now (`member`, `unclean`: nothing of it may
//!   start elsewhere, `clean`: its resources may start elsewhere); shown as `  > NODE is ..`.
//!
//! Shown: timeline events (`event`, their text), `fence`, `self-fence`, `view #N`,
//! `fence-known`, `end: fenced by a peer`, `actor INST ORDER`, `actors maintenance on|off`,
//! `replan`, `save-admin`, and, when they change after an input, the coordinator's
//! `grants` in this node's report, the
//! scheduling `gate` (no-quorum-policy) and `unsettled` (why the applied view is no
//! ground to start or fence anything). Not shown: reports handed to the scheduler,
//! "send now" and the tie-breaker questions (the test answers them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::cluster::packet::Packet;
use crate::node::admin::{AdminTable, Command};
use crate::node::config::{parse, NodeConfig};
use crate::node::fencing::{FenceResult, FencedBy};
use crate::node::report::Grant;
use crate::node::report::{RunStatus, Running};
use crate::node::resources::{OcfRc, What};
use crate::placement::config::Role;

/// The wall clock at the transcript's start (`@T plan` plans at this + T).
const WALL_START_MS: u64 = 1_800_000_000_000;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/node/machine/golden")
}

struct Harness {
    cfg: NodeConfig,
    m: NodeMachine,
    t0: Instant,
    seq: BTreeMap<NodeId, u64>,
    answers: ExternalTieBreakers,
    pending: bool,
    maintenance: bool,
    gate: Option<Gate>,
    unsettled: Option<String>,
    grants: Vec<Grant>,
    /// Each peer's admin records (sent in its reports).
    admin: BTreeMap<NodeId, AdminTable>,
    out: Vec<String>,
}

fn id_of(cfg: &NodeConfig, name: &str) -> NodeId {
    cfg.nodes
        .iter()
        .find(|n| n.name == name)
        .map(|n| n.id)
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn yes_no(v: &str) -> Option<bool> {
    match v {
        "yes" => Some(true),
        "no" => Some(false),
        other => panic!("yes or no, not {other}"),
    }
}

impl Harness {
    fn new(config: &str) -> Harness {
        let cfg = match parse(config, None, |_| Ok(b"golden-transcript-key-0123".to_vec())) {
            Ok(c) => c,
            Err(e) => panic!("config: {e}"),
        };
        let t0 = Instant::now();
        let m = NodeMachine::new(Settings::of(&cfg, 100), t0, [7; SEED_LEN]);
        Harness {
            cfg,
            m,
            t0,
            seq: BTreeMap::new(),
            answers: ExternalTieBreakers::default(),
            pending: false,
            maintenance: false,
            gate: None,
            unsettled: None,
            grants: Vec::new(),
            admin: BTreeMap::new(),
            out: Vec::new(),
        }
    }

    fn name(&self, id: NodeId) -> String {
        self.cfg.name_of(id)
    }

    fn feed(&mut self, input: Input, now: Instant) {
        let mut queue: std::collections::VecDeque<Action> = self.m.handle(input, now).into();
        while let Some(a) = queue.pop_front() {
            let line = match a {
                Action::Emit(e) => format!("event {}", e.text()),
                Action::AskTieBreakers { .. } => {
                    let input = Input::TieBreakers {
                        answers: self.answers,
                        pending: self.pending,
                    };
                    queue.extend(self.m.handle(input, now));
                    continue;
                }
                Action::Fence {
                    node,
                    delay,
                    reason,
                } => format!(
                    "fence {} delay={}ms ({reason})",
                    self.name(node),
                    delay.as_millis()
                ),
                Action::SelfFence { reason } => format!("self-fence ({reason})"),
                Action::ViewApplied { epoch } => format!("view #{epoch}"),
                Action::FenceKnown { node, ok, detail } => format!(
                    "fence-known {} {} ({detail})",
                    self.name(node),
                    if ok { "ok" } else { "FAILED" }
                ),
                Action::FencedByPeer => "end: fenced by a peer".to_string(),
                Action::Actor { instance, order } => {
                    format!("actor {instance} {}", format!("{order:?}").to_lowercase())
                }
                Action::ActorsMaintenance { on } => {
                    format!("actors maintenance {}", if on { "on" } else { "off" })
                }
                Action::Replan => "replan".to_string(),
                Action::SaveAdmin(_) => "save-admin".to_string(),
                Action::SendNow => continue,
            };
            self.out.push(format!("  > {line}"));
        }
    }

    fn observe(&mut self) {
        let gate = self.m.applied_view().map(|_| self.m.gate(self.maintenance));
        if gate != self.gate {
            if let Some(g) = gate {
                let word = match g {
                    Gate::Plan => "plan",
                    Gate::StopAll => "stop-all (no quorum)",
                    Gate::Hold => "hold (no quorum)",
                };
                self.out.push(format!("  > gate {word}"));
            }
            self.gate = gate;
        }
        let unsettled = self.m.unsettled_view();
        if unsettled != self.unsettled {
            let text = unsettled
                .as_deref()
                .unwrap_or("no: the applied view is agreed");
            self.out.push(format!("  > unsettled {text}"));
            self.unsettled = unsettled;
        }
        let grants = self.m.report_grants();
        if grants != self.grants {
            let list: Vec<String> = grants.iter().map(|g| self.grant_text(g)).collect();
            let list = if list.is_empty() {
                "none".to_string()
            } else {
                list.join(" ")
            };
            self.out.push(format!("  > grants {list}"));
            self.grants = grants;
        }
    }

    fn grant_text(&self, g: &Grant) -> String {
        let kind = match (g.promote, g.confirmed) {
            (false, _) => "start",
            (true, false) => "promote",
            (true, true) => "promote-confirmed",
        };
        format!("{kind}:{}@{}", g.resource, self.name(g.node))
    }

    fn packet(&mut self, from: NodeId, words: &[&str]) -> (usize, Packet) {
        let mut members: Vec<NodeId> = self.cfg.nodes.iter().map(|n| n.id).collect();
        let mut incarnation = 1000 + u64::from(from);
        let mut ring = 0;
        let mut echo = true;
        for w in words {
            match w.split_once('=') {
                Some(("members", "none")) => members = vec![from],
                Some(("members", list)) => {
                    members = list.split(',').map(|n| id_of(&self.cfg, n)).collect();
                }
                Some(("inc", n)) => incarnation = n.parse().expect("inc"),
                Some(("ring", n)) => ring = n.parse().expect("ring"),
                None if *w == "noecho" => echo = false,
                _ => panic!("heartbeat word {w}"),
            }
        }
        let seq = self.seq.entry(from).or_insert(0);
        *seq += 1;
        let echoes = if echo {
            self.m
                .membership
                .challenges()
                .into_iter()
                .filter(|(n, _)| *n == from)
                .map(|(_, nonce)| (self.cfg.me, nonce))
                .collect()
        } else {
            Vec::new()
        };
        let packet = Packet {
            cluster: self.cfg.cluster_id,
            from,
            incarnation,
            seq: *seq,
            quorate: true,
            members,
            challenges: Vec::new(),
            echoes,
        };
        (ring, packet)
    }

    fn report(&mut self, from: NodeId, words: &[&str]) -> Report {
        let mut incarnation = 1000 + u64::from(from);
        let mut fenced = Vec::new();
        let mut running = Vec::new();
        let mut grants = Vec::new();
        let mut leaving = false;
        for w in words {
            match w.split_once('=') {
                None if *w == "leaving" => leaving = true,
                Some(("grants", list)) => {
                    for g in list.split(',') {
                        let (kind, rest) = g.split_once(':').expect("grants=KIND:RES@NODE");
                        let (resource, node) = rest.split_once('@').expect("RES@NODE");
                        grants.push(Grant {
                            promote: kind != "start",
                            confirmed: kind == "promote-confirmed",
                            resource: resource.to_string(),
                            node: id_of(&self.cfg, node),
                        });
                    }
                }
                Some(("failed", list)) => {
                    running.extend(list.split(',').map(|name| Running {
                        name: name.to_string(),
                        role: Role::Started,
                        status: RunStatus::Failed,
                    }));
                }
                Some(("inc", n)) => incarnation = n.parse().expect("inc"),
                Some(("fenced", list)) => {
                    for f in list.split(',') {
                        let (node, rest) = f.split_once('@').expect("fenced=NODE@INC");
                        let (inc, age) = match rest.split_once('~') {
                            Some((inc, age)) => (inc, Some(age.parse().expect("age"))),
                            None => (rest, None),
                        };
                        fenced.push(FenceRecord {
                            node: id_of(&self.cfg, node),
                            incarnation: inc.parse().expect("inc"),
                            age_ms: age,
                        });
                    }
                }
                Some(("running", "")) => {}
                Some(("running", list)) => {
                    running.extend(list.split(',').map(|name| Running {
                        name: name.to_string(),
                        role: Role::Started,
                        status: RunStatus::Running,
                    }));
                }
                _ => panic!("report word {w}"),
            }
        }
        let seq = self.seq.entry(from).or_insert(0);
        *seq += 1;
        Report {
            cluster: self.cfg.cluster_id,
            from,
            incarnation,
            seq: *seq,
            running,
            fenced,
            failcounts: Vec::new(),
            admin: self
                .admin
                .get(&from)
                .map(|t| t.records().cloned().collect())
                .unwrap_or_default(),
            grants,
            attributes: Vec::new(),
            leaving,
        }
    }

    fn input(&mut self, line: &str) {
        let (at, rest) = line.split_once(' ').unwrap_or((line, ""));
        let ms: u64 = at.trim_start_matches('@').parse().expect("@<ms>");
        let now = self.t0 + Duration::from_millis(ms);
        let words: Vec<&str> = rest.split_whitespace().collect();
        let (verb, args) = words.split_first().expect("an input");
        match *verb {
            "tick" => self.feed(Input::Tick, now),
            "hb" | "beat" => {
                let (nodes, opts): (Vec<&str>, Vec<&str>) = args
                    .iter()
                    .partition(|w| !w.contains('=') && **w != "noecho");
                for node in nodes {
                    let from = id_of(&self.cfg, node);
                    let (ring, packet) = self.packet(from, &opts);
                    let inc = packet.incarnation;
                    self.feed(Input::Heartbeat { ring, packet }, now);
                    if *verb == "beat" {
                        let inc_word = format!("inc={inc}");
                        let report = self.report(from, &[inc_word.as_str()]);
                        self.feed(Input::Report(report), now);
                    }
                }
            }
            "report" => {
                let (node, opts) = args.split_first().expect("report NODE");
                let from = id_of(&self.cfg, node);
                let report = self.report(from, opts);
                self.feed(Input::Report(report), now);
            }
            "answers" => {
                self.answers = ExternalTieBreakers::default();
                self.pending = false;
                for w in args {
                    match w.split_once('=') {
                        Some(("ping", v)) => self.answers.ping = yes_no(v),
                        Some(("disk", v)) => self.answers.disk = yes_no(v),
                        None if *w == "pending" => self.pending = true,
                        _ => panic!("answers word {w}"),
                    }
                }
            }
            "fenced" => {
                let node = id_of(&self.cfg, args[0]);
                let elapsed = args
                    .iter()
                    .find_map(|w| w.strip_prefix("ms="))
                    .map_or(Duration::ZERO, |n| {
                        Duration::from_millis(n.parse().expect("ms"))
                    });
                let result = match args.get(1) {
                    Some(&"ok") => FenceResult::Fenced {
                        how: FencedBy::Agent,
                        detail: "fence_dummy: off".into(),
                    },
                    Some(&"failed") => FenceResult::Failed {
                        reason: "fence_dummy: exit 1".into(),
                    },
                    other => panic!("fenced NODE ok|failed, not {other:?}"),
                };
                self.feed(
                    Input::FenceDone {
                        node,
                        result,
                        elapsed,
                    },
                    now,
                );
            }
            "plan-fence" => {
                let node = id_of(&self.cfg, args.first().expect("plan-fence NODE"));
                let reason = args[1..].join(" ");
                self.feed(Input::PlanFence { node, reason }, now);
            }
            "running" => {
                let set: BTreeSet<(String, NodeId)> = args
                    .iter()
                    .map(|w| {
                        let (prim, node) = w.split_once('@').expect("PRIM@NODE");
                        (prim.to_string(), id_of(&self.cfg, node))
                    })
                    .collect();
                self.feed(Input::Running(set), now);
            }
            "maintenance" => {
                self.maintenance = args.first() == Some(&"on");
                self.feed(Input::Maintenance(self.maintenance), now);
            }
            "probe" | "reprobe" | "done" | "failed" => {
                let (instance, kind, opts) = match args {
                    [i, k, opts @ ..] => (i.to_string(), *k, opts),
                    _ => panic!("{verb} INST WHAT"),
                };
                let d = Duration::from_millis(20);
                let what = match (*verb, kind) {
                    ("probe", "stopped") => What::ProbedStopped(OcfRc::NotRunning),
                    ("probe", "running") => What::ProbedRunning { promoted: false },
                    ("probe", "promoted") => What::ProbedRunning { promoted: true },
                    ("reprobe", "stopped") => What::Reprobed {
                        rc: OcfRc::NotRunning,
                        running: None,
                        failed: false,
                    },
                    ("reprobe", "running") => What::Reprobed {
                        rc: OcfRc::Success,
                        running: Some(false),
                        failed: false,
                    },
                    ("reprobe", "failed") => What::Reprobed {
                        rc: OcfRc::Error(1),
                        running: None,
                        failed: true,
                    },
                    ("done", "start") => What::Started(d),
                    ("done", "stop") => What::Stopped(d),
                    ("done", "promote") => What::Promoted(d),
                    ("done", "demote") => What::Demoted(d),
                    ("failed", "start") => What::StartFailed(OcfRc::Error(1)),
                    ("failed", "stop") => What::StopFailed(OcfRc::Error(1)),
                    ("failed", "promote") => What::PromoteFailed(OcfRc::Error(1)),
                    ("failed", "demote") => What::DemoteFailed(OcfRc::Error(1)),
                    ("failed", "monitor") => What::MonitorFailed {
                        rc: OcfRc::Error(1),
                        promoted: false,
                    },
                    other => panic!("actor report {other:?}"),
                };
                let mut rules = FailureRules::default();
                for w in opts {
                    match w.split_once('=') {
                        Some(("threshold", n)) => rules.threshold = n.parse().expect("threshold"),
                        None if *w == "fatal" => rules.start_failure_is_fatal = true,
                        None if *w == "promotable" => rules.promotable = true,
                        _ => panic!("rule {w}"),
                    }
                }
                let primitive = instance.split(':').next().unwrap_or_default().to_string();
                self.feed(
                    Input::Resource {
                        instance,
                        primitive,
                        what,
                        rules,
                    },
                    now,
                );
            }
            "order" => {
                let order = match args.first() {
                    Some(&"start") => Order::Start,
                    Some(&"stop") => Order::Stop,
                    Some(&"promote") => Order::Promote,
                    Some(&"demote") => Order::Demote,
                    other => panic!("order {other:?}"),
                };
                let instance = args.get(1).expect("order WHAT INST").to_string();
                let reason = if args.len() > 2 {
                    args[2..].join(" ")
                } else {
                    "the plan".to_string()
                };
                self.feed(
                    Input::Order {
                        instance,
                        order,
                        reason,
                    },
                    now,
                );
            }
            "intend" => {
                let instance = args.first().expect("intend INST").to_string();
                let reason = "promotion score".to_string();
                self.feed(Input::Intend { instance, reason }, now);
            }
            "settle" => {
                let kept = args.iter().map(|a| a.to_string()).collect();
                self.feed(Input::SettleIntents(kept), now);
            }
            "cleanup" => {
                let prim = args.first().expect("cleanup PRIM").to_string();
                let instances = self
                    .m
                    .instances()
                    .states()
                    .keys()
                    .filter(|i| *i == &prim || i.starts_with(&format!("{prim}:")))
                    .cloned()
                    .collect();
                self.feed(Input::Cleanup(vec![(prim, instances)]), now);
            }
            "expire" => {
                let timeouts = args
                    .iter()
                    .map(|w| {
                        let (p, ms) = w.split_once('=').expect("PRIM=MS");
                        (
                            p.to_string(),
                            Duration::from_millis(ms.parse().expect("ms")),
                        )
                    })
                    .collect();
                self.feed(Input::ExpireFailures(timeouts), now);
            }
            "stop-all" => {
                let reason = if args.is_empty() {
                    "no quorum".to_string()
                } else {
                    args.join(" ")
                };
                self.feed(Input::StopAll { reason }, now);
            }
            "leave" => self.feed(Input::Leave, now),
            "plan" => {
                let wall = Moment(WALL_START_MS + ms);
                self.feed(Input::Plan { wall }, now);
            }
            "admin" => {
                let (node, command) = match args {
                    [node, command @ ..] => (id_of(&self.cfg, node), command),
                    _ => panic!("admin NODE COMMAND.."),
                };
                let command = match command {
                    ["move", resource, to] => Command::Move {
                        resource: resource.to_string(),
                        node: to.to_string(),
                    },
                    ["ban", resource, from] => Command::Ban {
                        resource: resource.to_string(),
                        node: from.to_string(),
                    },
                    ["standby", on] => Command::Standby {
                        node: self.name(node),
                        on: *on == "on",
                    },
                    other => panic!("admin command {other:?}"),
                };
                let table = self.admin.entry(node).or_default();
                if let Err(e) = table.command(node, &command) {
                    panic!("admin command: {e}");
                }
            }
            "status" => {
                let node = id_of(&self.cfg, args.first().expect("status NODE"));
                let word = match self.m.status(node) {
                    Some(NodeStatus::Member) => "member",
                    Some(NodeStatus::Unclean) => "unclean",
                    Some(NodeStatus::Clean) => "clean",
                    None => "unknown",
                };
                self.out.push(format!("  > {} is {word}", self.name(node)));
            }
            other => panic!("unknown input {other}"),
        }
        self.observe();
    }
}

/// Replay one transcript; the text it should be.
fn replay(text: &str) -> String {
    let mut out = Vec::new();
    let mut config = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "config:" {
            out.push(line.to_string());
            while let Some(l) = lines.peek() {
                if l.starts_with("  ") || l.is_empty() {
                    config.push_str(l.strip_prefix("  ").unwrap_or(""));
                    config.push('\n');
                    out.push(l.to_string());
                    lines.next();
                } else {
                    break;
                }
            }
            break;
        }
        out.push(line.to_string());
    }
    let mut h = Harness::new(&config);
    for line in lines {
        if line.starts_with("  >") {
            continue;
        }
        out.push(line.to_string());
        if line.starts_with('@') {
            h.input(line);
            out.append(&mut h.out);
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[test]
fn golden_transcripts() {
    let bless = std::env::var_os("PALISADE_BLESS").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let count = files.len();
    let mut differ = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let got = replay(&text);
        if got != text {
            if bless {
                std::fs::write(&path, &got).expect("write");
            } else {
                differ.push(format!(
                    "{}:\n--- expected\n{text}\n--- got\n{got}",
                    path.display()
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(count >= 8, "{count} transcripts");
}
