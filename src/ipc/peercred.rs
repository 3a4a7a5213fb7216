//! Who may use a service's socket, decided from the peer's `SO_PEERCRED` credentials: root, the
//! daemon's own user, or (when configured) members of one group, by primary or
//! supplementary group. The decision is pure; reading a peer's supplementary groups from
//! `/proc/<pid>/status` and resolving the group name are the only I/O here.

/// The peer's credentials as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Process id (absent on some kernels / namespaces).
    pub pid: Option<i32>,
}

/// The configured access rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The service's name in refusals ("fencer", "node daemon").
    pub service: &'static str,
    /// The daemon's effective uid (always allowed).
    pub daemon_uid: u32,
    /// The allowed group: its name and id.
    pub group: Option<(String, u32)>,
}

/// A peer that was turned away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not root, not the daemon's user, not in the allowed group.
    #[error("uid {uid} (gid {gid}) may not use the {service}: only root{group}")]
    NotAllowed {
        /// The service.
        service: &'static str,
        /// Peer uid.
        uid: u32,
        /// Peer gid.
        gid: u32,
        /// ", the daemon's user or members of group X" wording.
        group: String,
    },
}

/// A group name that does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// No such group.
    #[error("group {0} does not exist")]
    Unknown(String),
    /// The lookup failed.
    #[error("cannot look up group {0}: {1}")]
    Lookup(String, String),
}

/// Decide whether `peer` (with `supplementary` groups) may use the service.
pub fn authorize(
    peer: &PeerCred,
    supplementary: &[u32],
    policy: &AccessPolicy,
) -> Result<(), Refusal> {
    if peer.uid == 0 || peer.uid == policy.daemon_uid {
        return Ok(());
    }
    if let Some((_, gid)) = &policy.group {
        if peer.gid == *gid || supplementary.contains(gid) {
            return Ok(());
        }
    }
    let group = match &policy.group {
        Some((name, _)) => format!(", the daemon's user or members of group {name}"),
        None => " or the daemon's user".to_string(),
    };
    Err(Refusal::NotAllowed {
        service: policy.service,
        uid: peer.uid,
        gid: peer.gid,
        group,
    })
}

/// The `Groups:` line of `/proc/<pid>/status` (empty if unreadable).
pub fn supplementary_groups(pid: Option<i32>) -> Vec<u32> {
    let Some(pid) = pid.filter(|p| *p > 0) else {
        return Vec::new();
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| parse_groups_line(&status))
        .unwrap_or_default()
}

/// Parse the `Groups:` line of a `/proc/<pid>/status` text.
pub fn parse_groups_line(status: &str) -> Option<Vec<u32>> {
    let line = status.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    Some(
        line.split_whitespace()
            .filter_map(|g| g.parse().ok())
            .collect(),
    )
}

/// Resolve a group name (a number is taken as a gid).
pub fn group_id(name: &str) -> Result<u32, GroupError> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(GroupError::Unknown(name.to_string())),
        Err(e) => Err(GroupError::Lookup(name.to_string(), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> PeerCred {
        PeerCred {
            uid,
            gid,
            pid: None,
        }
    }

    #[test]
    fn root_and_daemon_user_always_pass() {
        let policy = AccessPolicy {
            service: "fencer",
            daemon_uid: 990,
            group: None,
        };
        assert_eq!(authorize(&peer(0, 0), &[], &policy), Ok(()));
        assert_eq!(authorize(&peer(990, 5), &[], &policy), Ok(()));
        let refused = authorize(&peer(1000, 1000), &[], &policy).expect_err("refused");
        assert!(refused.to_string().contains("uid 1000"), "{refused}");
        assert!(refused.to_string().contains("the fencer"), "{refused}");
    }

    #[test]
    fn allowed_group_by_primary_or_supplementary() {
        let policy = AccessPolicy {
            service: "fencer",
            daemon_uid: 0,
            group: Some(("haclient".into(), 189)),
        };
        assert_eq!(authorize(&peer(1000, 189), &[], &policy), Ok(()));
        assert_eq!(authorize(&peer(1000, 1000), &[4, 189], &policy), Ok(()));
        let refused = authorize(&peer(65534, 65534), &[65534], &policy).expect_err("refused");
        assert!(refused.to_string().contains("haclient"), "{refused}");
    }

    #[test]
    fn groups_line() {
        let status = "Name:\tx\nUid:\t0\t0\t0\t0\nGroups:\t4 24 189 \nNSpid:\t1\n";
        assert_eq!(parse_groups_line(status), Some(vec![4, 24, 189]));
        assert_eq!(parse_groups_line("Groups:\n"), Some(vec![]));
        assert_eq!(parse_groups_line("Name: x\n"), None);
        let own = supplementary_groups(i32::try_from(std::process::id()).ok());
        let _ = own; // readable on Linux; contents depend on the test runner
    }

    #[test]
    fn group_names_resolve() {
        assert_eq!(group_id("0"), Ok(0));
        assert_eq!(group_id("root"), Ok(0));
        assert!(matches!(
            group_id("no-such-group-palisade"),
            Err(GroupError::Unknown(_))
        ));
    }
}
