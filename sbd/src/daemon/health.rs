//! The cluster health channel from the palisade daemon to the sbd daemon: a small file.
//!
//! Protocol: the palisade daemon (re)writes the file at least once per sbd loop timeout
//! (write a temporary file, then rename it over the health file). Its first word says
//! what the node is: `quorate-healthy` (member of a quorate partition, healthy),
//! `not-quorate`, or `unhealthy`; anything after the first word is ignored (a reason,
//! for people). A report counts only while the file's modification time is younger
//! than `max_age` (the servant liveness, I/O + loop timeout) and not in the future:
//! a palisade daemon that hangs or dies stops refreshing the file, and the sbd daemon
//! then treats the cluster as gone. A missing or unreadable file is no report.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::inquisitor::ClusterHealth;

/// The health word in `text`, if it is one of the three.
pub fn parse_health(text: &str) -> Option<ClusterHealth> {
    match text.split_whitespace().next()? {
        "quorate-healthy" => Some(ClusterHealth::QuorateHealthy),
        "not-quorate" => Some(ClusterHealth::NotQuorate),
        "unhealthy" => Some(ClusterHealth::Unhealthy),
        _ => None,
    }
}

/// The word the palisade daemon writes for `health`.
pub fn health_word(health: ClusterHealth) -> &'static str {
    match health {
        ClusterHealth::QuorateHealthy => "quorate-healthy",
        ClusterHealth::NotQuorate => "not-quorate",
        ClusterHealth::Unhealthy => "unhealthy",
    }
}

/// Whether a file modified at `modified` is fresh at `now`.
pub fn is_fresh(modified: SystemTime, now: SystemTime, max_age: Duration) -> bool {
    match now.duration_since(modified) {
        Ok(age) => age < max_age,
        // Modified "in the future": the wall clock stepped back. Not trusted until the
        // daemon rewrites the file.
        Err(_) => false,
    }
}

/// The current report in the health file at `path`, if there is a fresh, valid one.
pub fn read_health(path: &Path, now: SystemTime, max_age: Duration) -> Option<ClusterHealth> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    if !is_fresh(modified, now, max_age) {
        return None;
    }
    parse_health(&std::fs::read_to_string(path).ok()?)
}

/// Write a report the way the palisade daemon must (temporary file + rename).
pub fn write_health(path: &Path, health: ClusterHealth, reason: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{} {reason}\n", health_word(health)))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_junk_is_no_report() {
        for h in [
            ClusterHealth::QuorateHealthy,
            ClusterHealth::NotQuorate,
            ClusterHealth::Unhealthy,
        ] {
            assert_eq!(
                parse_health(&format!("{} because\n", health_word(h))),
                Some(h)
            );
        }
        assert_eq!(parse_health(""), None);
        assert_eq!(parse_health("healthy"), None);
    }

    #[test]
    fn freshness() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let max = Duration::from_secs(4);
        assert!(is_fresh(now - Duration::from_secs(3), now, max));
        assert!(!is_fresh(now - Duration::from_secs(4), now, max));
        assert!(!is_fresh(now + Duration::from_secs(1), now, max));
    }

    #[test]
    fn file_round_trip() {
        let dir = std::env::temp_dir().join(format!("palisade-health-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("health");
        let max = Duration::from_secs(4);
        assert_eq!(read_health(&path, SystemTime::now(), max), None);
        write_health(&path, ClusterHealth::QuorateHealthy, "test").unwrap();
        assert_eq!(
            read_health(&path, SystemTime::now(), max),
            Some(ClusterHealth::QuorateHealthy)
        );
        let later = SystemTime::now() + Duration::from_secs(10);
        assert_eq!(read_health(&path, later, max), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
