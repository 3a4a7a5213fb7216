//! Tie-breakers and watchdog fencing with real daemons in network namespaces:
//!
//! - a 2|2 split of four nodes where the ping targets decide: the target (an address on
//!   the first switch) stays reachable from one half only, that half stays quorate,
//!   fences the other and takes its service;
//! - a 2|2 split where the sbd disk decides (a shared sbd image; claim in the
//!   `palisade:tiebreak` slot): exactly one half wins, fences the other, runs the service;
//! - a two-node cluster with watchdog fencing: no fence device, a diskless `palisade-sbd
//!   watch` per node fed by the health file (test watchdog, recorded self-fence); the
//!   disk settles the 1|1 split, the loser's sbd self-fences, and the winner counts the
//!   loser fenced only after `watchdog-timeout`.
//!
//! Every node runs under `setpriv --bounding-set -sys_boot` with PALISADE_FORBID_SELF_FENCE
//! (never a real reboot). Needs root and `ip netns`; otherwise each test is
//! a counted skip (`SKIPPED:` line), a failure under CI=true or as root.

mod common_arbitration;
#[allow(unused_imports)]
mod common_cluster;

use std::process::Command;
use std::time::Duration;

use common_arbitration::*;
use common_cluster::{now_ms, violations, wait_until};

/// An sbd image (our `palisade-sbd create` on a plain file) in the lab directory.
fn sbd_image(c: &Lab) -> String {
    let path = c.dir.join("sbd.img");
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(4 << 20))
        .expect("image");
    let out = Command::new(binary("palisade-sbd"))
        .args(["-d"])
        .arg(&path)
        .args(["-1", "2", "-4", "4", "create"])
        .output()
        .expect("palisade-sbd create");
    assert!(
        out.status.success(),
        "create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.display().to_string()
}

fn number(name: &str) -> usize {
    name.trim_start_matches("node")
        .parse()
        .expect("node number")
}

/// The half (of `halves`) whose members are all quorate after `since`, when exactly one is.
fn winning_half(c: &Lab, halves: [[usize; 2]; 2], since: u64) -> Option<usize> {
    let quorate: Vec<bool> = halves
        .iter()
        .map(|h| h.iter().all(|n| c.quorate(*n, since)))
        .collect();
    // The losers may stay silent (waiting for the disk) until they are fenced.
    let not: Vec<bool> = halves
        .iter()
        .map(|h| h.iter().all(|n| !c.quorate(*n, since)))
        .collect();
    match (quorate[0] && not[1], quorate[1] && not[0]) {
        (true, false) => Some(0),
        (false, true) => Some(1),
        _ => None,
    }
}

/// After a 2|2 split at `split`: the winners fence both losers before the service runs
/// on a winner, and nobody ever runs it twice.
fn check_failover(c: &Lab, winners: [usize; 2], losers: [usize; 2], split: u64) {
    let moved = wait_until(Duration::from_secs(20), || {
        c.running_on()
            .first()
            .is_some_and(|n| winners.contains(&number(n)))
            && losers.iter().all(|l| {
                c.log()
                    .iter()
                    .any(|x| x.event == "poweroff" && x.node == format!("node{l}"))
            })
    });
    assert!(
        moved,
        "the winners did not fence the losers and run the service:\n{}",
        c.timeline_text(split)
    );
    let log = c.log();
    let v = violations(&log);
    assert!(
        v.is_empty(),
        "two nodes ran the service: {v:?}\n{}",
        c.timeline_text(0)
    );
    // Nobody of the losing half asked for a fence.
    assert!(
        !c.events().iter().any(|e| e.at >= split
            && e.kind == "fence_request"
            && losers.contains(&number(&e.node))),
        "a node of the losing half asked for a fence:\n{}",
        c.timeline_text(split)
    );
}

#[test]
fn ping_targets_decide_a_two_two_split() {
    let Some(mut c) = lab(
        "p",
        Options {
            nodes: 4,
            ping_targets: vec!["10.77.0.254".into()],
            // The service runs in the half that will lose the target.
            allowed: vec![3, 4, 1, 2],
            ..Options::default()
        },
    ) else {
        return;
    };
    // The ping target: an address of the first switch's bridge (with a fixed MAC: a
    // bridge otherwise takes its lowest port's, which changes when ports leave).
    let sw = c.switch();
    assert!(c.ip(&[
        "-n",
        &sw,
        "link",
        "set",
        "br0",
        "address",
        "02:00:00:77:00:fe"
    ]));
    assert!(c.ip(&["-n", &sw, "addr", "add", "10.77.0.254/24", "dev", "br0"]));
    let t0 = now_ms();
    c.start_all();
    let up = wait_until(Duration::from_secs(20), || {
        c.running_on() == vec!["node3".to_string()]
    });
    assert!(
        up,
        "service never started on node3:\n{}",
        c.timeline_text(t0)
    );
    assert!(
        c.events()
            .iter()
            .any(|e| e.kind == "ping_answers" && e.names("silent").is_empty()),
        "the target never answered:\n{}",
        c.timeline_text(t0)
    );
    // Nodes 3 and 4 move to a second switch: they still see each other, not the target.
    let split = now_ms();
    c.split(&[3, 4]);
    let settled = wait_until(Duration::from_secs(15), || {
        winning_half(&c, [[1, 2], [3, 4]], split).is_some()
    });
    assert!(
        settled,
        "no single half kept quorum:\n{}",
        c.timeline_text(split)
    );
    assert_eq!(
        winning_half(&c, [[1, 2], [3, 4]], split),
        Some(0),
        "the half that reaches the target must win:\n{}",
        c.timeline_text(split)
    );
    let verdict = c.last_verdict(1, split).expect("node1's verdict");
    assert!(
        verdict.flag("quorate") && verdict.fields["tie_breakers"]["ping"] == true,
        "{:?}",
        verdict.fields
    );
    // A loser may be fenced before it writes a verdict (see winning_half); one it
    // wrote must name the lost target. check_failover checks the fence.
    if let Some(lost) = c.last_verdict(3, split) {
        assert_eq!(
            lost.fields["tie_breakers"]["ping"], false,
            "{:?}",
            lost.fields
        );
    }
    check_failover(&c, [1, 2], [3, 4], split);
    println!("ping tie-breaker:\n{}", c.timeline_text(split));
}

#[test]
fn the_sbd_disk_decides_a_two_two_split() {
    let Some(mut c) = lab(
        "d",
        Options {
            nodes: 4,
            ..Options::default()
        },
    ) else {
        return;
    };
    let image = sbd_image(&c);
    c.options.tie_breaker_disk = Some(image.clone());
    let t0 = now_ms();
    c.start_all();
    let up = wait_until(Duration::from_secs(20), || c.running_on().len() == 1);
    assert!(up, "service never started:\n{}", c.timeline_text(t0));
    let split = now_ms();
    c.split(&[3, 4]);
    let settled = wait_until(Duration::from_secs(15), || {
        winning_half(&c, [[1, 2], [3, 4]], split).is_some()
    });
    assert!(
        settled,
        "no single half kept quorum:\n{}",
        c.timeline_text(split)
    );
    let half = winning_half(&c, [[1, 2], [3, 4]], split).unwrap_or(0);
    let (winners, losers) = if half == 0 {
        ([1, 2], [3, 4])
    } else {
        ([3, 4], [1, 2])
    };
    for w in winners {
        let v = c.last_verdict(w, split).expect("a winner's verdict");
        assert!(
            v.flag("quorate") && v.fields["tie_breakers"]["disk"] == true,
            "node{w}: {:?}",
            v.fields
        );
    }
    check_failover(&c, winners, losers, split);
    // The claim sits in its own slot, as any sbd `list` shows it.
    let out = Command::new(binary("palisade-sbd"))
        .args(["-d", &image, "list"])
        .output()
        .expect("list");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("palisade:tiebreak\tclear\tnode"),
        "{listed}"
    );
    println!(
        "disk tie-breaker (half {winners:?} won):\n{}",
        c.timeline_text(split)
    );
}

#[test]
fn watchdog_fencing_in_a_two_node_cluster() {
    let Some(mut c) = lab(
        "w",
        Options {
            nodes: 2,
            fence_devices: false,
            health_file: true,
            watchdog: Some(("3s", "2s")),
            ..Options::default()
        },
    ) else {
        return;
    };
    let image = sbd_image(&c);
    c.options.tie_breaker_disk = Some(image.clone());
    let t0 = now_ms();
    c.start_all();
    let up = wait_until(Duration::from_secs(20), || {
        c.running_on() == vec!["node1".to_string()]
    });
    assert!(
        up,
        "service never started on node1:\n{}",
        c.timeline_text(t0)
    );
    // Each node's sbd watches its health file (the daemons report quorate by now).
    for i in 1..=2 {
        c.start_sbd(i, 2);
    }
    std::thread::sleep(Duration::from_secs(3));
    for i in 1..=2 {
        assert!(
            !c.ended(i, "sbd"),
            "sbd of node{i} ended while the cluster was healthy"
        );
        assert!(
            !c.sbd_record(i).exists(),
            "node{i} self-fenced while healthy"
        );
    }
    let cut = now_ms();
    c.cut(1);
    // One node wins the disk; the other loses quorum, its sbd self-fences.
    let decided = wait_until(Duration::from_secs(20), || {
        (1..=2).any(|i| c.sbd_record(i).exists())
            && c.events()
                .iter()
                .any(|e| e.at >= cut && e.kind == "fenced" && e.str("how") == "watchdog")
    });
    assert!(
        decided,
        "no self-fence and watchdog fence:\n{}",
        c.timeline_text(cut)
    );
    let loser = if c.sbd_record(1).exists() { 1 } else { 2 };
    let winner = 3 - loser;
    assert!(
        !c.sbd_record(winner).exists(),
        "the winner node{winner} self-fenced too"
    );
    assert!(c.quorate(winner, cut), "{}", c.timeline_text(cut));
    let events = c.events();
    let winner_name = format!("node{winner}");
    let request = events
        .iter()
        .find(|e| e.at >= cut && e.is(&winner_name, "fence_request"))
        .expect("fence request");
    let fenced = events
        .iter()
        .find(|e| {
            e.at >= cut && e.is(&winner_name, "fenced") && e.str("target") == format!("node{loser}")
        })
        .expect("fence confirmation");
    assert!(
        fenced.at >= request.at + 3000,
        "counted fenced {} ms after the request, before watchdog-timeout",
        fenced.at - request.at
    );
    let record_at = std::fs::metadata(c.sbd_record(loser))
        .and_then(|m| m.modified())
        .expect("record time")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as u64;
    assert!(
        record_at <= fenced.at,
        "node{loser}'s sbd self-fenced at {record_at}, after node{winner} counted it fenced at {}",
        fenced.at
    );
    // The service ends on the winner (it moves there if the loser ran it).
    let on_winner = wait_until(Duration::from_secs(10), || {
        c.running_on() == vec![format!("node{winner}")]
    });
    assert!(
        on_winner,
        "service not on node{winner}:\n{}",
        c.timeline_text(cut)
    );
    if loser == 1 {
        let start = c
            .log()
            .into_iter()
            .find(|l| l.at >= cut && l.event == "start")
            .expect("start on the winner");
        assert!(
            start.at >= fenced.at,
            "the service moved before the watchdog fence"
        );
    }
    let v = violations(&c.log());
    assert!(
        v.is_empty(),
        "two nodes ran the service: {v:?}\n{}",
        c.timeline_text(t0)
    );
    println!(
        "watchdog fencing (node{winner} won):\n{}",
        c.timeline_text(cut)
    );
}

#[test]
fn a_missing_or_foreign_tie_breaker_disk_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("palisade-tiebreak-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("key"), b"palisade-tiebreak-cli-key-0123").expect("key");
    let port = 20000 + (std::process::id() % 10000) as u16 * 2;
    let config = |disk: &str| {
        format!(
            "[cluster]\nid = 1\nkey-file = \"{d}/key\"\nnode = \"a\"\nport = {port}\nstate-dir = \"{d}/state\"\ncontrol-socket = \"{d}/control.sock\"\n\
             [quorum]\ntie-breaker-disk = \"{disk}\"\n[fencing]\nenabled = false\n\
             [[node]]\nname = \"a\"\nid = 1\naddresses = [\"127.0.0.1\"]\n\
             [[node]]\nname = \"b\"\nid = 2\naddresses = [\"127.0.0.2\"]\n",
            d = dir.display()
        )
    };
    let run = |text: String, check: bool| {
        let path = dir.join("node.toml");
        std::fs::write(&path, text).expect("config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
        cmd.args(["node", "--config"]).arg(&path);
        if check {
            cmd.arg("--check");
        }
        let out = cmd
            .env("PALISADE_FORBID_SELF_FENCE", "1")
            .output()
            .expect("palisade node");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let missing = format!("{}/no-such-disk", dir.display());
    let (code, err) = run(config(&missing), true);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("tie-breaker-disk") && err.contains("no-such-disk"),
        "{err}"
    );
    // A file that is no sbd device: the node refuses to start.
    let plain = dir.join("plain.img");
    std::fs::write(&plain, vec![0u8; 1 << 20]).expect("plain");
    let (code, err) = run(config(&plain.display().to_string()), false);
    assert_eq!(code, Some(7), "{err}");
    assert!(
        err.contains("tie-breaker disk") && err.contains("plain.img"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
