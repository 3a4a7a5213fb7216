//! Disk-based sbd in a REAL corosync 3 + pacemaker 2.1 cluster (`tests/fixtures/pcmk/lab.sh`,
//! three nodes in their own namespaces): one shared sbd image, to which every node attaches
//! its OWN loop device (as hosts see one SAN LUN; `/dev/sbd` inside the node); on every
//! node our `palisade-sbd -d /dev/sbd ... -p /run/sbd.pid watch` started before pacemakerd
//! as sbd.service does (SBD_PACEMAKER=yes); a fencing topology made with pacemaker's own
//! tools: level 1 our `fence_ipmilan` (one per node), level 2 our `fence_sbd`.
//!
//! Scenario: the BMC of the node running `ocf:pacemaker:Dummy` is down (its ipmi_sim ends)
//! and its links are cut. Level 1 fails (nothing reaches that BMC), level 2 writes the
//! poison pill into the node's slot, the node's own palisade-sbd reads it and self-fences
//! (the recording executor; the lab then powers the node off, as the BMC would: every
//! process of the node ends), pacemaker confirms after msgwait and Dummy starts on a
//! survivor. Checked on structured data: the slot (`sbd list` on a survivor: `reset` from
//! the node that fenced), the self-fence record, `stonith_admin --history --output-as=xml`
//! (success, delegate = the pill's sender), the BMC log (no power request after the
//! fault), `crm_resource --locate` and the Dummy state files (never on two nodes; started
//! only after the victim's power went off). Which level's device fenced is only in
//! pacemaker-fenced's log (the history XML names no device): checked there as well.
//! Then the self-fenced node comes back and rejoins (its sbd clears the pill at start,
//! SBD_STARTMODE=always), and corosync of the node now running Dummy is SIGKILLed: its
//! sbd keeps it alive on the disk (no self-fence), pacemaker fences it through level 1
//! (the BMC's log shows the power off) and Dummy moves.
//!
//! Guards: as tests/pcmk_sbd.rs (no CAP_SYS_BOOT, PALISADE_FORBID_SELF_FENCE=1, pet-file
//! watchdog, recording self-fence; no /dev/watchdog is opened). Not root (and no CI=true):
//! a counted skip.

mod common_pcmk;

use std::time::Duration;

use common_pcmk::*;

const START_LIMIT: Duration = Duration::from_secs(240);
const RECOVERY_LIMIT: Duration = Duration::from_secs(150);

/// Header timeouts of the shared disk (seconds): fence_sbd waits msgwait.
const WATCHDOG: u32 = 5;
const MSGWAIT: u32 = 10;

/// The nodes' /etc/default/sbd: Debian's file with the disk and the test seams.
const SETTINGS: &str = "\
SBD_PACEMAKER=yes
SBD_STARTMODE=always
SBD_DELAY_START=no
SBD_DEVICE=/dev/sbd
SBD_WATCHDOG_DEV=pet-file:/run/testdev/sbd.pets
SBD_WATCHDOG_TIMEOUT=5
SBD_TIMEOUT_ACTION=flush,reboot
SBD_MOVE_TO_ROOT_CGROUP=auto
SBD_SYNC_RESOURCE_STARTUP=yes
SBD_OPTS=\"-v --self-fence=record:/run/testdev/sbd.record\"
";

fn all_resources_started(lab: &PcmkLab, expected: usize) -> bool {
    let Some(xml) = lab.crm_mon(1) else {
        return false;
    };
    let resources = elements(&xml, "resource");
    resources.len() == expected
        && resources
            .iter()
            .all(|r| r.get("role") == "Started" && r.get("failed") == "false")
}

#[test]
fn a_node_whose_bmc_is_down_is_fenced_by_our_fence_sbd_at_level_2() {
    if !lab_available() {
        return;
    }
    let sbd = built_binary("palisade-sbd");
    let binds = [
        (sbd.clone(), "/usr/sbin/sbd"),
        (built_binary("fence_ipmilan"), "/usr/sbin/fence_ipmilan"),
        (built_binary("fence_sbd"), "/usr/sbin/fence_sbd"),
    ];
    let disk = SbdDiskSpec {
        creator: sbd,
        watchdog: WATCHDOG,
        msgwait: MSGWAIT,
    };
    let t_start = now();
    let lab = PcmkLab::start_with_disk("d", 3, &binds, Some(SETTINGS), Some(&disk));
    assert!(
        lab.wait_all_online(START_LIMIT),
        "the cluster never came up with disk-based palisade-sbd:\n{}",
        lab.report()
    );
    lab.configure();

    // Every node's sbd allocated its slot on the one shared disk (each through its own
    // loop device), and every node reads the same slots.
    let names: Vec<String> = (1..=3).map(|k| format!("node{k}")).collect();
    let slots = lab.sbd_slots(1).expect("sbd list in node1");
    let mut allocated: Vec<String> = slots.iter().map(|s| s.name.clone()).collect();
    allocated.sort();
    assert_eq!(allocated, names, "{slots:?}");
    assert!(slots.iter().all(|s| s.message == "clear"), "{slots:?}");
    for k in 2..=3 {
        assert_eq!(
            lab.sbd_slots(k).as_ref(),
            Some(&slots),
            "node{k} reads other slots"
        );
    }
    let topology = lab
        .exec_ok(1, &["cibadmin", "-Q", "-o", "fencing-topology"])
        .expect("cibadmin -Q -o fencing-topology");
    let levels = elements(&topology, "fencing-level");
    assert_eq!(levels.len(), 6, "{topology}");
    assert!(levels
        .iter()
        .filter(|l| l.get("index") == "2")
        .all(|l| l.get("devices") == "fence_sbd"));
    // 3 BMC devices, fence_sbd, Dummy
    assert!(
        wait_until(RECOVERY_LIMIT, || all_resources_started(&lab, 5)),
        "resources never all started:\n{}",
        lab.report()
    );
    let owner = lab.dummy_states();
    assert_eq!(owner.len(), 1, "Dummy state files: {owner:?}");
    let victim = owner[0];
    let victim_name = format!("node{victim}");
    let t_ready = now();

    // The victim's BMC goes away, then its links.
    let t0 = now();
    lab.bmc_stop(victim);
    lab.cut(victim);
    let f = follow_failover(&lab, victim, t0, RECOVERY_LIMIT);
    assert!(
        f.violations.is_empty(),
        "Dummy on two nodes at once: {:#?}\n{}",
        f.violations,
        lab.report()
    );

    // The victim's own sbd read the pill and self-fenced; the lab powered it off.
    let record = lab.testdev_file(victim, "sbd.record").unwrap_or_default();
    let kinds: Vec<&str> = record
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        kinds,
        ["reboot"],
        "node{victim}'s self-fence record: {record:?}"
    );
    let offs = lab.selffence_power_offs(victim);
    let [power_off] = offs.as_slice() else {
        panic!(
            "node{victim} self-fence power offs: {offs:?}\n{}",
            lab.report()
        );
    };
    assert!(*power_off > t0);
    assert_eq!(lab.init_pid(victim), None, "node{victim} still runs");
    assert!(
        f.started_at > *power_off,
        "Dummy started on node{} ({:.3}) before node{victim} was down ({power_off:.3})",
        f.survivor,
        f.started_at
    );
    // Its watchdog was left armed (a self-fence, not a clean stop).
    let pets =
        watchdog::petlog::PetLog::parse(&lab.testdev_file(victim, "sbd.pets").unwrap_or_default())
            .expect("victim's pet file");
    assert!(pets.armed_at().is_some() && !pets.magic_closed());

    // Level 1 could not reach the BMC: no power request after the fault.
    let requests: Vec<_> = lab
        .bmc_actions(victim)
        .into_iter()
        .filter(|a| a.at >= t0)
        .collect();
    assert!(
        requests.is_empty(),
        "node{victim}'s BMC answered: {requests:?}"
    );

    // The slot says who fenced: the survivor that ran fence_sbd, which pacemaker's
    // history names as the delegate.
    let slots = lab.sbd_slots(f.survivor).expect("sbd list on the survivor");
    let pill = slots
        .iter()
        .find(|s| s.name == victim_name)
        .unwrap_or_else(|| panic!("no slot of {victim_name}: {slots:?}"));
    assert_eq!(pill.message, "reset", "{slots:?}");
    assert!(
        names.contains(&pill.sender) && pill.sender != victim_name,
        "{slots:?}"
    );
    let (code, events) = lab.fence_history(f.survivor, &victim_name);
    assert_eq!(code, Some(0), "stonith_admin --history {victim_name}");
    let ok: Vec<_> = events
        .iter()
        .filter(|e| e.get("target") == victim_name && e.get("status") == "success")
        .collect();
    assert_eq!(ok.len(), 1, "{events:#?}");
    assert_eq!(ok[0].get("delegate"), pill.sender, "{events:#?}");
    let level1_failed = format!("targeting {victim_name} using fence_node{victim} returned 1");
    let level2_ok = format!("targeting {victim_name} using fence_sbd returned 0");
    let logs: String = (1..=3)
        .filter(|k| *k != victim)
        .map(|k| lab.pacemaker_log(k))
        .collect();
    assert!(
        logs.contains(&level1_failed) && logs.contains(&level2_ok),
        "pacemaker-fenced did not log level 1 failing and fence_sbd succeeding:\n{}",
        lab.report()
    );

    // b. The self-fenced node comes back (power, BMC, links): with SBD_STARTMODE=always
    // its sbd starts although its slot holds the pill, clears it and the node rejoins.
    lab.bmc_start(victim);
    lab.heal(victim);
    lab.boot(victim);
    assert!(
        lab.wait_all_online(RECOVERY_LIMIT),
        "node{victim} did not rejoin after its self-fence:\n{}",
        lab.report()
    );
    assert!(
        wait_until(RECOVERY_LIMIT, || lab
            .sbd_slots(1)
            .is_some_and(|s| s.iter().all(|s| s.message == "clear"))),
        "the pill stayed in node{victim}'s slot: {:?}",
        lab.sbd_slots(1)
    );

    // c. corosync of the node now running Dummy is SIGKILLed: its sbd lives on the disk
    // (no self-fence), pacemaker fences it through level 1 (its BMC is up) and Dummy
    // moves.
    let owner = f.survivor;
    let offs_before = lab.selffence_power_offs(owner).len();
    let t_kill = now();
    lab.kill_corosync(owner);
    let g = follow_failover(&lab, owner, t_kill, RECOVERY_LIMIT);
    assert!(
        g.violations.is_empty(),
        "{:#?}\n{}",
        g.violations,
        lab.report()
    );
    let bmc_off = lab
        .bmc_actions(owner)
        .iter()
        .find(|a| a.at >= t_kill && a.what == "power off done")
        .map(|a| a.at)
        .unwrap_or_else(|| panic!("node{owner}'s BMC never powered it off:\n{}", lab.report()));
    assert!(
        g.started_at > bmc_off,
        "Dummy started before node{owner} was off"
    );
    assert_eq!(
        lab.selffence_power_offs(owner).len(),
        offs_before,
        "node{owner}'s sbd self-fenced although its disk was fine"
    );
    let owner_name = format!("node{owner}");
    let (code, events) = lab.fence_history(g.survivor, &owner_name);
    assert_eq!(code, Some(0));
    assert!(
        events
            .iter()
            .any(|e| e.get("target") == owner_name && e.get("status") == "success"),
        "{events:#?}"
    );
    let level1_ok = format!("targeting {owner_name} using fence_node{owner} returned 0");
    assert!(
        (1..=3).any(|k| lab.pacemaker_log(k).contains(&level1_ok)),
        "no level-1 fence of {owner_name} logged:\n{}",
        lab.report()
    );
    println!(
        "SUMMARY pcmk_sbd_disk: 3 nodes with disk sbd ready in {:.1}s; BMC of node{victim} down + cut: \
         self-fenced +{:.2}s, Dummy on node{} +{:.2}s; corosync of node{owner} killed: BMC off +{:.2}s, \
         Dummy on node{} +{:.2}s; total {:.1}s",
        t_ready - t_start,
        power_off - t0,
        f.survivor,
        f.started_at - t0,
        bmc_off - t_kill,
        g.survivor,
        g.started_at - t_kill,
        now() - t_start
    );
}
