//! What the node tells the others: every keepalive (and at once after a change) its
//! heartbeat and its status report on every ring, and the sbd health file for the local
//! `palisade-sbd watch`. Part of [`super`].

use std::time::Instant;

use super::Runner;
use crate::cluster::packet::{self, Packet};
use crate::node::events::Event;
use crate::node::heartbeat::Rings;
use crate::node::report::{self, Report};

impl Runner {
    /// Tell the sbd daemon whether this node is in a quorate partition, so that losing
    /// the disks alone does not kill a healthy member (sbd's pacemaker integration). The
    /// file is rewritten every keepalive; if this daemon hangs it goes stale and sbd
    /// stops trusting it.
    pub(super) fn report_health(&mut self) {
        let Some(path) = self.cfg.sbd_health_file.clone() else {
            return;
        };
        // Quorate AND agreed: a member that announces another view (it no longer hears
        // us) means our membership is one-sided; sbd must not count on it.
        let (health, reason) = if self.machine.healthy() {
            (
                sbd::inquisitor::ClusterHealth::QuorateHealthy,
                "member of a quorate partition",
            )
        } else {
            (
                sbd::inquisitor::ClusterHealth::NotQuorate,
                "partition without quorum",
            )
        };
        if let Err(e) = sbd::daemon::health::write_health(&path, health, reason) {
            self.dropped_health_reports += 1;
            if self.dropped_health_reports == 1 {
                self.emit(Event::HealthFileUnwritable {
                    path: path.display().to_string(),
                    error: e.to_string(),
                });
            }
        }
    }

    /// Heartbeat and report to every peer on every ring.
    pub(super) async fn send(&mut self, rings: &Rings) {
        self.seq += 1;
        // What we see now (not yet agreed perhaps): peers compare it with their own view.
        let announcement = self.machine.announce();
        let hb = packet::encode(
            &Packet {
                cluster: self.cfg.cluster_id,
                from: self.cfg.me,
                incarnation: self.incarnation,
                seq: self.seq,
                quorate: announcement.quorate,
                members: announcement.members,
                challenges: announcement.challenges,
                echoes: announcement.echoes,
            },
            &self.key,
        );
        // No report (so no peer takes us into its view) before every probe and cleanup
        // is done: what we report running must be what the cluster placed here.
        self.send_now = false;
        if !self.machine.instances().probed() {
            rings.send_all(&[&hb]).await;
            return;
        }
        let now = Instant::now();
        let rep = report::encode(
            &Report {
                cluster: self.cfg.cluster_id,
                from: self.cfg.me,
                incarnation: self.incarnation,
                seq: self.seq,
                running: self.machine.local_running(),
                fenced: self.machine.advertised_fences(now),
                failcounts: self.machine.local_failcounts(now),
                admin: self
                    .machine
                    .scheduler()
                    .admin()
                    .records()
                    .cloned()
                    .collect(),
                grants: self.machine.report_grants(),
                attributes: self.machine.local_attributes(),
                leaving: self.machine.leaving(),
            },
            &self.cfg.key,
        );
        rings.send_all(&[&hb, &rep]).await;
    }
}
