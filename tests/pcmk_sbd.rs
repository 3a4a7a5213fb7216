//! palisade-sbd as ClusterLabs sbd under a REAL corosync 3 + pacemaker 2.1 cluster
//! (`tests/fixtures/pcmk/lab.sh`, three nodes in their own namespaces): our built
//! `palisade-sbd` is bind-mounted over `/usr/sbin/sbd` inside the nodes only and started
//! on every node before pacemakerd exactly as sbd.service starts it — the settings of a
//! Debian `/etc/default/sbd` (SBD_PACEMAKER=yes, SBD_SYNC_RESOURCE_STARTUP=yes, diskless)
//! in the environment of sbd and pacemakerd, `sbd $SBD_OPTS -p /run/sbd.pid watch`, which
//! forks and returns once its watchdog is armed.
//!
//! Checked:
//! * start-up: every node's `sbd ... watch` returned 0 with a PID file, its watchdog is
//!   armed; pacemakerd got its start-up trigger from our pacemaker servant (crm_mon:
//!   pacemakerd `running`, every node online) and found sbd (`have-watchdog=true`);
//! * a cut: the links of a node that is not the DC go down (stonith disabled, so nobody
//!   fences it from outside): its palisade-sbd sees quorum lost (corosync servant) and
//!   pacemaker's no-quorum state, stops petting and self-fences one watchdog timeout
//!   later — recorded by the test executor, never a reset, after which the lab powers
//!   the node off as its BMC would; the two survivors keep their quorum, record
//!   nothing, and keep petting after the victim's self-fence;
//! * pacemaker dies: the victim comes back and rejoins; then pacemakerd of a survivor is
//!   SIGKILLed (no clean shutdown): its palisade-sbd sees pacemakerd gone and, diskless,
//!   self-fences one watchdog timeout later (as ClusterLabs' sbd does); the other two
//!   stay quorate;
//! * the CIB is unreachable: pacemaker-based of one of those two is SIGSTOPped (its
//!   socket stays open, nothing answers): our pacemaker servant's noop goes unanswered,
//!   it reports "Disconnected from CIB" and, diskless, the node self-fences one watchdog
//!   timeout later (ClusterLabs' sbd: its CIB query blocks, its servant goes silent, the
//!   same self-fence; bench/pcmk.sh compares both with a disk).
//!
//! Guards: every sbd runs in a node (own PID namespace, no CAP_SYS_BOOT, read-only
//! /proc/sys, /dev/null over /proc/sysrq-trigger), with PALISADE_FORBID_SELF_FENCE=1, a
//! pet-file watchdog (`pet-file:/run/testdev/sbd.pets`: the node's test devices, kept
//! on the host past its power-off) and `--self-fence=record:` (lab.sh
//! refuses to start sbd otherwise); no /dev/watchdog is opened. Assertions are on
//! structured data (crm_mon / crm_attribute XML, pet files, the record file); waits are
//! bounded polls on conditions. Not root (and no CI=true): a counted skip.

mod common_pcmk;

use std::collections::BTreeSet;
use std::time::Duration;

use common_pcmk::*;
use watchdog::petlog::PetLog;

const START_LIMIT: Duration = Duration::from_secs(240);
const FENCE_LIMIT: Duration = Duration::from_secs(60);

/// The nodes' /etc/default/sbd: Debian's file with the test seams.
const SETTINGS: &str = "\
SBD_PACEMAKER=yes
SBD_STARTMODE=always
SBD_DELAY_START=no
SBD_WATCHDOG_DEV=pet-file:/run/testdev/sbd.pets
SBD_WATCHDOG_TIMEOUT=5
SBD_TIMEOUT_ACTION=flush,reboot
SBD_MOVE_TO_ROOT_CGROUP=auto
SBD_SYNC_RESOURCE_STARTUP=yes
SBD_OPTS=\"-v --self-fence=record:/run/testdev/sbd.record\"
";

fn pet_log(lab: &PcmkLab, k: usize) -> Option<PetLog> {
    PetLog::parse(&lab.testdev_file(k, "sbd.pets")?).ok()
}

fn pets(lab: &PcmkLab, k: usize) -> usize {
    pet_log(lab, k).map_or(0, |l| l.pets().len())
}

/// `sbd rc=N pid P` lines lab.sh wrote when node `k`'s `sbd ... watch` returned.
fn sbd_starts(lab: &PcmkLab, k: usize) -> Vec<(i32, String)> {
    std::fs::read_to_string(lab.dir.join(format!("n{k}/sbd.out")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let rest = l.split(" sbd rc=").nth(1)?;
            let (rc, pid) = rest.split_once(" pid ")?;
            Some((rc.parse().ok()?, pid.trim().to_string()))
        })
        .collect()
}

/// Whether node `k`'s syslog shows our daemon saw the whole cluster (pacemaker and
/// corosync alive): only then does losing it starve the watchdog.
fn cluster_appeared(lab: &PcmkLab, k: usize) -> bool {
    std::fs::read_to_string(lab.dir.join(format!("n{k}/syslog.log")))
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("palisade-sbd[") && l.contains("Active cluster detected"))
}

fn attribute(lab: &PcmkLab, k: usize, name: &str) -> Option<String> {
    let xml = lab.exec_ok(
        k,
        &[
            "crm_attribute",
            "-t",
            "crm_config",
            "-n",
            name,
            "-G",
            "--output-as=xml",
        ],
    )?;
    elements(&xml, "attribute")
        .into_iter()
        .find(|a| a.get("name") == name)
        .map(|a| a.get("value").to_string())
}

#[test]
fn palisade_sbd_under_pacemaker_self_fences_a_node_that_lost_quorum() {
    if !lab_available() {
        return;
    }
    let ours = built_binary("palisade-sbd");
    let lab = PcmkLab::start_with("s", 3, &[(ours, "/usr/sbin/sbd")], Some(SETTINGS));
    assert!(
        lab.wait_all_online(START_LIMIT),
        "the cluster never came up with palisade-sbd:\n{}",
        lab.report()
    );

    // Start-up as sbd.service: `watch` returned 0 once armed, PID file written.
    for k in 1..=3 {
        let starts = sbd_starts(&lab, k);
        assert!(
            matches!(starts.as_slice(), [(0, pid)] if !pid.is_empty()),
            "node{k}: sbd start {starts:?}\n{}",
            lab.report()
        );
        let pid_file = lab.run_file(k, "sbd.pid").unwrap_or_default();
        assert_eq!(pid_file.trim(), starts[0].1, "node{k}: /run/sbd.pid");
        let log = pet_log(&lab, k).expect("pet file");
        assert!(log.armed_at().is_some(), "node{k}: watchdog not armed");
        assert_eq!(
            lab.testdev_file(k, "sbd.record"),
            None,
            "node{k} self-fenced"
        );
    }
    // pacemakerd got the start-up trigger (it waits in wait_for_ping otherwise) and
    // found sbd.
    let xml = lab.crm_mon(1).expect("crm_mon");
    let pacemakerd: Vec<_> = elements(&xml, "pacemakerd")
        .into_iter()
        .map(|e| e.get("state").to_string())
        .collect();
    assert_eq!(pacemakerd, ["running"], "{xml}");
    assert_eq!(attribute(&lab, 1, "have-watchdog").as_deref(), Some("true"));

    // Nobody fences from outside: only the node's own sbd acts on the cut.
    assert!(lab
        .exec(
            1,
            &[
                "crm_attribute",
                "-t",
                "crm_config",
                "-n",
                "stonith-enabled",
                "-v",
                "false"
            ]
        )
        .status
        .success());
    assert!(
        wait_until(START_LIMIT, || (1..=3).all(|k| cluster_appeared(&lab, k))),
        "not every palisade-sbd saw the whole cluster:\n{}",
        lab.report()
    );
    let dc = elements(&lab.crm_mon(1).expect("crm_mon"), "current_dc")
        .first()
        .map(|d| d.get("name").to_string())
        .unwrap_or_default();
    let victim = (1..=3)
        .rev()
        .find(|k| format!("node{k}") != dc)
        .expect("a node that is not the DC");
    let survivors: Vec<usize> = (1..=3).filter(|k| *k != victim).collect();

    lab.cut(victim);
    let fenced = wait_until(FENCE_LIMIT, || {
        lab.testdev_file(victim, "sbd.record").is_some()
    });
    assert!(
        fenced,
        "node{victim}'s palisade-sbd never self-fenced after the cut:\n{}",
        lab.report()
    );
    let record = lab.testdev_file(victim, "sbd.record").unwrap_or_default();
    assert!(
        record.starts_with("reboot flush watchdog starved"),
        "node{victim}: {record}"
    );
    // The self-fence took the node down: the lab powered it off.
    assert!(
        wait_until(FENCE_LIMIT, || lab.init_pid(victim).is_none()
            && !lab.selffence_power_offs(victim).is_empty()),
        "node{victim} still runs after its self-fence:\n{}",
        lab.report()
    );
    // The victim's watchdog was left armed, not disarmed with the magic close.
    let log = pet_log(&lab, victim).expect("victim's pet file");
    assert!(log.armed_at().is_some() && !log.magic_closed());

    // Survivors: quorate, healthy, still petting after the victim's self-fence.
    let before: Vec<usize> = survivors.iter().map(|k| pets(&lab, *k)).collect();
    for k in &survivors {
        assert_eq!(
            lab.testdev_file(*k, "sbd.record"),
            None,
            "survivor node{k} self-fenced"
        );
    }
    assert!(
        wait_until(FENCE_LIMIT, || survivors
            .iter()
            .zip(&before)
            .all(|(k, n)| pets(&lab, *k) > *n + 2)),
        "survivors stopped petting:\n{}",
        lab.report()
    );
    for k in &survivors {
        let xml = lab.crm_mon(*k).expect("survivor's crm_mon");
        let dc = elements(&xml, "current_dc");
        assert_eq!(
            dc.first().map(|d| d.get("with_quorum")),
            Some("true"),
            "{xml}"
        );
        let online: BTreeSet<String> = elements(&xml, "node")
            .into_iter()
            .filter(|n| n.get("online") == "true" && n.attrs.contains_key("type"))
            .map(|n| n.get("name").to_string())
            .collect();
        assert!(!online.contains(&format!("node{victim}")), "{online:?}");
        assert_eq!(
            lab.testdev_file(*k, "sbd.record"),
            None,
            "survivor node{k} self-fenced"
        );
    }

    // The victim comes back (links, power) and rejoins: its sbd starts again.
    lab.heal(victim);
    lab.boot(victim);
    assert!(
        lab.wait_all_online(START_LIMIT),
        "node{victim} did not rejoin after its self-fence:\n{}",
        lab.report()
    );
    assert!(
        wait_until(START_LIMIT, || (1..=3).all(|k| pets(&lab, k) > 0)
            && sbd_starts(&lab, victim).len() == 2),
        "node{victim}'s sbd did not start again:\n{}",
        lab.report()
    );

    // Pacemaker dies on a node (pacemakerd SIGKILLed, not a clean shutdown): as
    // ClusterLabs' sbd, ours sees pacemakerd gone, its pacemaker servant goes silent and,
    // diskless, the node self-fences one watchdog timeout later. The others stay quorate.
    let dying = survivors[0];
    let others: Vec<usize> = (1..=3).filter(|k| *k != dying).collect();
    let records_before: Vec<usize> = (1..=3).map(|k| lab.selffence_power_offs(k).len()).collect();
    lab.kill_pacemakerd(dying);
    assert!(
        wait_until(FENCE_LIMIT, || lab.selffence_power_offs(dying).len()
            > records_before[dying - 1]),
        "node{dying}'s palisade-sbd did not self-fence after pacemakerd died:\n{}",
        lab.report()
    );
    let dying_record = lab.testdev_file(dying, "sbd.record").unwrap_or_default();
    assert!(
        dying_record
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("reboot flush watchdog starved")),
        "node{dying}: {dying_record}"
    );
    for k in &others {
        assert_eq!(
            lab.selffence_power_offs(*k).len(),
            records_before[*k - 1],
            "node{k} self-fenced too"
        );
        let xml = lab.crm_mon(*k).expect("crm_mon");
        assert_eq!(
            elements(&xml, "current_dc")
                .first()
                .map(|d| d.get("with_quorum")),
            Some("true"),
            "{xml}"
        );
    }

    // The CIB becomes unreachable on a node (pacemaker-based SIGSTOPped: its socket stays
    // open, nothing answers): as ClusterLabs' sbd, ours counts the pacemaker servant as
    // disconnected from the CIB (its noop is not answered) and, diskless, the node
    // self-fences one watchdog timeout later.
    let stopped = others[0];
    let before = lab.selffence_power_offs(stopped).len();
    lab.stop_cib(stopped);
    assert!(
        wait_until(FENCE_LIMIT, || lab.selffence_power_offs(stopped).len()
            > before),
        "node{stopped}'s palisade-sbd did not self-fence with its CIB stopped:\n{}",
        lab.report()
    );
    let stopped_record = lab.testdev_file(stopped, "sbd.record").unwrap_or_default();
    assert!(
        stopped_record
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("reboot flush watchdog starved")),
        "node{stopped}: {stopped_record}"
    );
    eprintln!(
        "SUMMARY pcmk_sbd: node{victim} cut, its palisade-sbd recorded {:?}; survivors {survivors:?} healthy; \
         pacemakerd of node{dying} killed: self-fenced; CIB of node{stopped} stopped: self-fenced",
        record.trim()
    );
}
