//! The journal thread: it appends finished operations (and device health checks) to
//! the history (group commit: one
//! `fdatasync` for everything queued) and only then sends the replies that waited for
//! them. A write failure is logged and counted; the replies still go out.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use tokio::sync::oneshot;

use super::Shared;
use crate::api::protocol::Response;
use crate::fencer::history::{Journal, JournalLine};

/// Entries to make durable and the replies to send afterwards.
#[derive(Debug)]
pub struct JournalJob {
    /// Finished operations and device health checks.
    pub entries: Vec<JournalLine>,
    /// Replies that wait for them.
    pub replies: Vec<(oneshot::Sender<Response>, Response)>,
}

/// Start the thread; it ends when every sender is dropped (after the last job).
pub fn spawn(
    journal: Journal,
    shared: Arc<Shared>,
) -> std::io::Result<(Sender<JournalJob>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("palisade-journal".into())
        .spawn(move || run(journal, &rx, &shared))?;
    Ok((tx, handle))
}

fn run(mut journal: Journal, rx: &Receiver<JournalJob>, shared: &Shared) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        let entries: Vec<JournalLine> = jobs.iter().flat_map(|j| j.entries.clone()).collect();
        if let Err(e) = journal.append(&entries) {
            tracing::error!("cannot write the fence history: {e}");
            if let Ok(mut m) = shared.metrics.lock() {
                m.history_write_failed();
            }
        }
        for job in jobs {
            for (tx, response) in job.replies {
                let _ = tx.send(response);
            }
        }
    }
}
