//! The cluster servant's health table.

use super::*;

fn member(quorate: bool, members: &[u32]) -> Snapshot {
    Snapshot::Connected {
        membership: Some(QuorumUpdate {
            quorate,
            members: members.to_vec(),
        }),
        two_node: false,
    }
}

#[test]
fn connection_states() {
    let mut a = Assessor::default();
    let waiting = Snapshot::Disconnected {
        lost: false,
        reason: "CS_ERR_LIBRARY".into(),
    };
    assert_eq!(a.assess(&waiting).0, ServantHealth::Transient);
    let no_membership = Snapshot::Connected {
        membership: None,
        two_node: false,
    };
    assert_eq!(a.assess(&no_membership).0, ServantHealth::Transient);
    let lost = Snapshot::Disconnected {
        lost: true,
        reason: "gone".into(),
    };
    assert_eq!(a.assess(&lost).0, ServantHealth::Unhealthy);
    assert_eq!(a.assess(&member(true, &[])).0, ServantHealth::Unhealthy);
}

#[test]
fn quorum_before_and_after() {
    let mut a = Assessor::default();
    // Booting alone: not quorate yet, but online (sbd must be able to start).
    assert_eq!(a.assess(&member(false, &[1])).0, ServantHealth::Online);
    assert_eq!(a.assess(&member(true, &[1, 2])).0, ServantHealth::Online);
    // Cut off: out of the quorate partition.
    let (health, detail) = a.assess(&member(false, &[1]));
    assert_eq!(health, ServantHealth::Unhealthy, "{detail}");
    // Healed.
    assert_eq!(a.assess(&member(true, &[1, 2, 3])).0, ServantHealth::Online);
}

#[test]
fn two_node_mode_distrusts_quorum_once_both_were_seen() {
    let mut a = Assessor::default();
    let two = |members: &[u32]| Snapshot::Connected {
        membership: Some(QuorumUpdate {
            quorate: true,
            members: members.to_vec(),
        }),
        two_node: true,
    };
    assert_eq!(a.assess(&two(&[1])).0, ServantHealth::Online);
    assert_eq!(a.assess(&two(&[1, 2])).0, ServantHealth::Online);
    assert_eq!(a.assess(&two(&[1])).0, ServantHealth::Unhealthy);
}
