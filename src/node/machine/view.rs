//! The view: once the peer book is settled (every peer in or declared dead), the view
//! it gives is judged by quorum (with the tie-breakers' answers when it holds exactly
//! half), and a quorate view is applied only once agreed: every member announces the
//! same members. Losing quorum is applied at once (stopping is always safe). Applying a
//! view numbers it, tells fencing, and applies no-quorum-policy's self-fence. Fences
//! learned from peers are confirmed here, and failed fences retried.

use std::collections::BTreeSet;
use std::time::Instant;

use super::{no_quorum, Action, NodeMachine};
use crate::cluster::quorum::{self, ExternalTieBreakers, NodeId};
use crate::node::events::{millis, Event, Seen, TieBreakerAnswers};

impl NodeMachine {
    /// After any change: ask the tie-breakers about the view (their answer refreshes).
    pub(super) fn ask(&mut self, out: &mut Vec<Action>) {
        if self.book.settled() {
            out.push(Action::AskTieBreakers {
                view: self.book.view(),
                wfa: self.wfa,
            });
        }
    }

    /// Judge the current view with the tie-breakers' `external` answers; apply it if it
    /// changed (and is agreed, when quorate); confirm fences peers reported; retry fences.
    pub(super) fn refresh(
        &mut self,
        external: ExternalTieBreakers,
        pending: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if !self.book.settled() {
            return;
        }
        let view = self.book.view();
        // Exactly half: the tie-breakers' answers decide, and may change on their own.
        let asked = quorum::asks_tie_breakers(&self.s.quorum, &view, &self.wfa);
        let pending = asked && pending;
        let changed = self.view.as_ref() != Some(&view) || (asked && external != self.external);
        if changed && !pending {
            self.external = external;
            let verdict = quorum::evaluate(&self.s.quorum, &view, external, &mut self.wfa);
            let disagreeing = self.book.disagreeing(&view);
            if verdict.quorate && !disagreeing.is_empty() {
                self.hold(&view, &disagreeing, now, out);
            } else {
                self.held = None;
                // The answers the verdict was given with (none asked, or none configured).
                let answers = TieBreakerAnswers {
                    ping: external.ping,
                    disk: external.disk,
                };
                let answers = (asked && (answers.ping.is_some() || answers.disk.is_some()))
                    .then_some(answers);
                self.apply(view, verdict, answers, now, out);
            }
        }
        let applied = self.view.clone().unwrap_or_default();
        for n in self.book.due_fences(&applied) {
            out.push(Action::Emit(Event::FenceConfirmed {
                target: self.name(n),
            }));
            out.push(Action::FenceKnown {
                node: n,
                ok: true,
                detail: "reported by a peer".into(),
            });
            self.fencing.fenced(n, true, now);
        }
        for d in self.fencing.tick(now) {
            self.fence(d, out);
        }
    }

    /// A quorate view not agreed yet: keep the last one; say so if it lasts.
    fn hold(
        &mut self,
        view: &BTreeSet<NodeId>,
        disagreeing: &[(NodeId, BTreeSet<NodeId>)],
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (since, logged) = match &self.held {
            Some((held, since, logged)) if held == view => (*since, *logged),
            _ => (now, false),
        };
        let long = now.saturating_duration_since(since) >= self.s.timers.keepalive * 2;
        if long && !logged {
            let theirs = disagreeing
                .iter()
                .map(|(n, seen)| Seen {
                    peer: self.name(*n),
                    sees: self.names(seen),
                })
                .collect();
            out.push(Action::Emit(Event::NotAgreed {
                members: self.names(view),
                waited_ms: millis(now.saturating_duration_since(since)),
                theirs,
            }));
        }
        self.held = Some((view.clone(), since, logged || long));
    }

    fn apply(
        &mut self,
        view: BTreeSet<NodeId>,
        verdict: quorum::Verdict,
        tie_breakers: Option<TieBreakerAnswers>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.epoch += 1;
        let state = (verdict.quorate, verdict.reason.clone());
        let policy = (!verdict.quorate)
            .then(|| format!("{:?}", self.s.quorum.no_quorum_policy).to_lowercase());
        let still = self.verdict.as_ref() == Some(&state) && self.view.is_some();
        out.push(Action::Emit(Event::Quorum {
            quorate: verdict.quorate,
            reason: verdict.reason.clone(),
            votes: verdict.votes,
            expected: verdict.expected,
            needed: verdict.needed,
            members: self.names(&view),
            view: self.epoch,
            tie_breakers,
            policy,
            still,
        }));
        self.verdict = Some(state);
        self.quorate = verdict.quorate;
        out.push(Action::ViewApplied { epoch: self.epoch });
        let left = self.left_cleanly();
        let (decisions, gone) = self.fencing.view(&view, verdict.quorate, &left, now);
        self.left(gone, out);
        for d in decisions {
            self.fence(d, out);
        }
        self.view = Some(view);
        if let Some(reason) = no_quorum::self_fence(self.s.quorum.no_quorum_policy, self.quorate) {
            out.push(Action::SelfFence { reason });
        }
    }

    /// Why the applied view is no ground for starting or fencing anything now (None: it
    /// is): the membership sees another view (one being agreed, or a tie waiting for its
    /// tie-breaker), or a member announces another view. The plan may be computed with a
    /// view that is vanishing (a split noticed one peer at a time), in which a resource a
    /// peer stopped for lack of quorum looks free to start here.
    pub fn unsettled_view(&self) -> Option<String> {
        let applied = self.view.as_ref()?;
        let current = self.book.view();
        if current != *applied {
            return Some(format!(
                "view [{}] not agreed yet (was [{}])",
                self.names(&current).join(" "),
                self.names(applied).join(" ")
            ));
        }
        let disagreeing = self.book.disagreeing(applied);
        if disagreeing.is_empty() {
            return None;
        }
        let theirs: Vec<String> = disagreeing
            .iter()
            .map(|(n, seen)| format!("{} sees [{}]", self.name(*n), self.names(seen).join(" ")))
            .collect();
        Some(format!(
            "view [{}] not agreed: {}",
            self.names(applied).join(" "),
            theirs.join(", ")
        ))
    }
}
