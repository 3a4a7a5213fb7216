//! fence_xvm end to end against Debian's fence_virtd (tests/fixtures/fence_virtd.sh): its
//! multicast listener, a shared key, and the libvirt backend on libvirt's test driver in a
//! private unprivileged libvirtd, whose domains node1 and node2 `virsh` reads
//! independently. Every action via argv and stdin, missing domains, a wrong key, a front
//! that fails the first status read after every change (fence_virtd_flaky.py), and the same
//! scenarios through ClusterLabs' fence_xvm (package fence-virt) for exit codes, status
//! lines and the domains' states.
//!
//! SAFETY: multicast only inside a network namespace each test creates (loopback only,
//! multicast route to lo, no route out); fence_virtd and every agent run inside it.

mod common;

use common::{built_binary, output_text, run_raw, Mode, Options, Outcome};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const FLAKY_PORT: u16 = 1330;
const CLUSTERLABS: &str = "/usr/sbin/fence_xvm";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// fence_virtd in a namespace of this test, stopped (by the PIDs its fixture recorded)
/// and the namespace deleted on drop.
struct Virtd {
    dir: PathBuf,
    netns: String,
    /// fence_virtd's listener: `multicast` (fence_xvm) or `tcp` (fence_virt -T).
    listener: &'static str,
}

impl Virtd {
    fn start() -> Option<Virtd> {
        Virtd::start_with("multicast")
    }

    fn start_with(listener: &'static str) -> Option<Virtd> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let netns = format!(
            "pal-xvm-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let made = ip(&["netns", "add", &netns])
            && ip(&["-n", &netns, "link", "set", "lo", "multicast", "on"])
            && ip(&["-n", &netns, "link", "set", "lo", "up"])
            && ip(&["-n", &netns, "route", "add", "224.0.0.0/4", "dev", "lo"]);
        if !made {
            let _ = ip(&["netns", "del", &netns]);
            testkit::skip::required("cannot create a network namespace with multicast on lo");
            return None;
        }
        let out = Command::new("ip")
            .args(["-4", "-n", &netns, "route", "show", "default"])
            .output()
            .expect("ip route");
        assert!(out.stdout.is_empty(), "{netns}: a default route");
        let dir = std::env::temp_dir().join(format!("palisade-{netns}"));
        let peer = Virtd {
            dir,
            netns,
            listener,
        };
        let out = peer.fixture("start");
        if !out.status.success() {
            testkit::skip::required(format!(
                "fence_virtd did not start (apt-get install fence-virtd fence-virt \
                 libvirt-daemon libvirt-clients):\n{}",
                output_text(&out)
            ));
            return None;
        }
        Some(peer)
    }

    fn fixture(&self, cmd: &str) -> std::process::Output {
        Command::new("bash")
            .arg(common::repo_root().join("tests/fixtures/fence_virtd.sh"))
            .arg(cmd)
            .env("FVD_DIR", &self.dir)
            .env("FVD_NETNS", &self.netns)
            .env("FVD_LISTENER", self.listener)
            .env("FVD_FLAKY_PORT", FLAKY_PORT.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run tests/fixtures/fence_virtd.sh")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("fence_xvm.key")
    }

    /// `running` / `shut off`, read by virsh through the same libvirtd.
    fn domstate(&self, domain: &str) -> String {
        let uri = std::fs::read_to_string(self.dir.join("uri")).expect("uri");
        let out = Command::new("virsh")
            .args(["-q", "-c", uri.trim(), "domstate", domain])
            .output()
            .expect("virsh");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn running(&self, domain: &str) -> bool {
        self.domstate(domain) == "running"
    }

    /// Both domains running again.
    fn reset(&self) {
        for d in ["node1", "node2"] {
            if !self.running(d) {
                let (agent, opts) = if self.listener == "tcp" {
                    (virt(), self.opts().set("ipaddr", "127.0.0.1"))
                } else {
                    (ours(), self.opts())
                };
                run(self, &agent, Mode::Argv, opts.set("plug", d), "on").expect_code(0, "reset");
            }
        }
        let _ = std::fs::write(self.dir.join("flaky.log"), "");
    }

    fn opts(&self) -> Options {
        Options::new().set("key_file", self.key().display())
    }

    fn flaky_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("flaky.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Virtd {
    fn drop(&mut self) {
        let _ = self.fixture("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = ip(&["netns", "del", &self.netns]);
    }
}

fn ours() -> PathBuf {
    built_binary("fence_xvm")
}

fn virt() -> PathBuf {
    built_binary("fence_virt")
}

fn run(peer: &Virtd, agent: &Path, mode: Mode, options: Options, action: &str) -> Outcome {
    let options = options.set("action", action);
    let mut args: Vec<String> = vec!["netns".into(), "exec".into(), peer.netns.clone()];
    args.push(agent.display().to_string());
    match mode {
        Mode::Argv => {
            args.extend(options.argv());
            run_raw(Path::new("ip"), &args, None, &[])
        }
        Mode::Stdin => run_raw(Path::new("ip"), &args, Some(&options.stdin()), &[]),
    }
}

#[test]
fn xvm_every_action_missing_domains_and_wrong_keys() {
    let Some(peer) = Virtd::start() else { return };
    for mode in [Mode::Argv, Mode::Stdin] {
        peer.reset();
        let what = |a: &str| format!("{mode:?} {a}");
        let o = || peer.opts().set("plug", "node1");
        run(&peer, &ours(), mode, o(), "status")
            .expect_code(0, &what("status"))
            .expect_line("Status: ON", &what("status"));
        run(&peer, &ours(), mode, o(), "off")
            .expect_code(0, &what("off"))
            .expect_line("Success: Powered OFF", &what("off"));
        assert_eq!(peer.domstate("node1"), "shut off");
        assert!(peer.running("node2"));
        run(&peer, &ours(), mode, o(), "status")
            .expect_code(2, &what("status off"))
            .expect_line("Status: OFF", &what("status off"));
        run(&peer, &ours(), mode, o(), "off")
            .expect_code(0, &what("off again"))
            .expect_line("Success: Already OFF", &what("off again"));
        run(&peer, &ours(), mode, o(), "on")
            .expect_code(0, &what("on"))
            .expect_line("Success: Powered ON", &what("on"));
        assert!(peer.running("node1"));
        run(&peer, &ours(), mode, o().set("power_wait", 0), "reboot")
            .expect_code(0, &what("reboot"))
            .expect_line("Success: Rebooted", &what("reboot"));
        assert!(peer.running("node1"));
        // --method cycle: fence_virtd's own reboot (destroy, start).
        run(&peer, &ours(), mode, o().set("method", "cycle"), "reboot")
            .expect_code(0, &what("cycle"))
            .expect_line("Success: Rebooted", &what("cycle"));
        assert!(peer.running("node1"));
        // By UUID, with and without --use-uuid.
        let uuid = "00000000-0000-0000-0000-000000000002";
        run(
            &peer,
            &ours(),
            mode,
            peer.opts().set("plug", uuid).flag("use_uuid"),
            "status",
        )
        .expect_code(0, &what("status by uuid"))
        .expect_line("Status: ON", &what("status by uuid"));
        run(&peer, &ours(), mode, peer.opts(), "monitor").expect_code(0, &what("monitor"));
        let list = run(&peer, &ours(), mode, peer.opts(), "list");
        list.expect_code(0, &what("list"));
        assert_eq!(
            list.result_lines(),
            [
                "node1,00000000-0000-0000-0000-000000000001",
                "node2,00000000-0000-0000-0000-000000000002"
            ]
        );
    }
    // A domain the daemon does not know: an error at the first read, nothing switched.
    for action in ["status", "off", "reboot"] {
        let out = run(
            &peer,
            &ours(),
            Mode::Argv,
            peer.opts().set("plug", "nosuch"),
            action,
        );
        out.expect_code(1, action);
        assert!(out.result_lines().is_empty(), "{out:#?}");
        assert!(out.stderr.contains("does not exist"), "{out:#?}");
    }
    assert!(peer.running("node1") && peer.running("node2"));
    // Another key: the daemon drops the request (its signature is wrong): a timeout.
    let other_key = peer.dir.join("other.key");
    std::fs::write(&other_key, b"not the key").unwrap();
    let out = run(
        &peer,
        &ours(),
        Mode::Argv,
        Options::new()
            .set("key_file", other_key.display())
            .set("plug", "node1")
            .set("timeout", 1)
            .set("retrans", 3),
        "off",
    );
    out.expect_code(1, "wrong key");
    assert!(out.stderr.contains("no fence_virtd answered"), "{out:#?}");
    // The daemon's auth is sha256: asking for sha512 fails the challenge.
    let out = run(
        &peer,
        &ours(),
        Mode::Argv,
        peer.opts().set("plug", "node1").set("auth", "sha512"),
        "off",
    );
    out.expect_code(1, "auth mismatch");
    assert!(out.stderr.contains("authentication failed"), "{out:#?}");
    assert!(peer.running("node1"));
    let out = run(
        &peer,
        &ours(),
        Mode::Argv,
        peer.opts().set("ip_family", "ipv6").set("plug", "node1"),
        "status",
    );
    out.expect_code(1, "ipv6");
}

/// Through a front that fails the first status read after every change: off, on and
/// reboot succeed, one failed read per change.
#[test]
fn xvm_verification_survives_a_failed_read_after_every_change() {
    let Some(peer) = Virtd::start() else { return };
    for mode in [Mode::Argv, Mode::Stdin] {
        peer.reset();
        let o = || {
            peer.opts()
                .set("plug", "node2")
                .set("ipport", FLAKY_PORT)
                .set("power_wait", 0)
        };
        run(&peer, &ours(), mode, o(), "off")
            .expect_code(0, "off")
            .expect_line("Success: Powered OFF", "off");
        assert!(!peer.running("node2"));
        run(&peer, &ours(), mode, o(), "on")
            .expect_code(0, "on")
            .expect_line("Success: Powered ON", "on");
        run(&peer, &ours(), mode, o(), "reboot")
            .expect_code(0, "reboot")
            .expect_line("Success: Rebooted", "reboot");
        assert!(peer.running("node2"));
        let log = peer.flaky_log();
        let flaky = log.iter().filter(|l| l.starts_with("FLAKY status")).count();
        let changes = log
            .iter()
            .filter(|l| l.starts_with("FORWARD off") || l.starts_with("FORWARD on"))
            .count();
        assert_eq!((flaky, changes), (4, 4), "{log:#?}");
    }
}

#[test]
fn xvm_same_as_clusterlabs() {
    let Some(peer) = Virtd::start() else { return };
    let theirs = PathBuf::from(CLUSTERLABS);
    if !theirs.is_file() {
        testkit::skip::optional(format!(
            "{CLUSTERLABS} not installed (apt-get install fence-virt)"
        ));
        return;
    }
    // Options on stdin (ClusterLabs' fence_xvm has no long options). Exit codes, stdout
    // of status, and the domain's state afterwards. (ClusterLabs'
    // fence_xvm prints nothing for off/on/reboot; ours prints the framework's Success
    // lines, so those lines are not compared.)
    let cases: Vec<(Options, &str, &str)> = vec![
        (peer.opts().set("plug", "node1"), "status", "running"),
        (peer.opts().set("plug", "node1"), "off", "shut off"),
        (peer.opts().set("plug", "node1"), "on", "running"),
        (peer.opts().set("plug", "node2"), "reboot", "running"),
        (peer.opts(), "monitor", "running"),
        (peer.opts().set("plug", "nosuch"), "off", "running"),
        (
            peer.opts().set("plug", "node1").set("auth", "sha512"),
            "off",
            "running",
        ),
    ];
    for (opts, action, after) in cases {
        let what = format!("{action} {:?}", opts.argv());
        let domain = opts
            .0
            .iter()
            .find(|o| o.name == "plug")
            .and_then(|o| o.value.clone())
            .filter(|d| d != "nosuch")
            .unwrap_or_else(|| "node1".into());
        peer.reset();
        let t = run(&peer, &theirs, Mode::Stdin, opts.clone(), action);
        let their_state = peer.domstate(&domain);
        peer.reset();
        let o = run(&peer, &ours(), Mode::Stdin, opts, action);
        assert_eq!(
            o.code, t.code,
            "{what}: exit codes\nours {o:#?}\ntheirs {t:#?}"
        );
        assert_eq!(peer.domstate(&domain), their_state, "{what}: state after");
        assert_eq!(their_state, after, "{what}");
        if action == "status" {
            assert_eq!(o.result_lines(), t.result_lines(), "{what}");
        }
    }
    // Status of a switched-off domain: the same line and exit code.
    peer.reset();
    run(
        &peer,
        &ours(),
        Mode::Stdin,
        peer.opts().set("plug", "node2"),
        "off",
    )
    .expect_code(0, "off");
    let t = run(
        &peer,
        &theirs,
        Mode::Stdin,
        peer.opts().set("plug", "node2"),
        "status",
    );
    let o = run(
        &peer,
        &ours(),
        Mode::Stdin,
        peer.opts().set("plug", "node2"),
        "status",
    );
    assert_eq!((o.code, o.result_lines()), (t.code, t.result_lines()));
    assert_eq!(o.code, Some(2));
    // list: the same domains and UUIDs ("node1 <uuid> on" there, "node1,<uuid>" here).
    let t = run(&peer, &theirs, Mode::Stdin, peer.opts(), "list");
    let o = run(&peer, &ours(), Mode::Stdin, peer.opts(), "list");
    let theirs_list: Vec<String> = t
        .result_lines()
        .iter()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(o.result_lines(), theirs_list);
    // Deliberate difference: ClusterLabs reads a domain the daemon does not know as OFF.
    let t = run(
        &peer,
        &theirs,
        Mode::Stdin,
        peer.opts().set("plug", "nosuch"),
        "status",
    );
    t.expect_code(2, "ClusterLabs: unknown domain")
        .expect_line("Status: OFF", "ClusterLabs");
    run(
        &peer,
        &ours(),
        Mode::Stdin,
        peer.opts().set("plug", "nosuch"),
        "status",
    )
    .expect_code(1, "ours: unknown domain");
}

/// fence_virt over fence_virtd's TCP listener: every action, an unknown domain, a front
/// that fails the first status read after every change, and the same exit codes, status
/// lines and domain states as ClusterLabs' fence_virt (`-T`). Without `--ipaddr`
/// (ClusterLabs: serial mode) ours refuses.
#[test]
fn virt_over_the_tcp_listener_same_as_clusterlabs() {
    let Some(peer) = Virtd::start_with("tcp") else {
        return;
    };
    let tcp = || peer.opts().set("ipaddr", "127.0.0.1");
    for mode in [Mode::Argv, Mode::Stdin] {
        peer.reset();
        let o = || tcp().set("plug", "node1");
        run(&peer, &virt(), mode, o(), "status")
            .expect_code(0, "status")
            .expect_line("Status: ON", "status");
        run(&peer, &virt(), mode, o(), "off")
            .expect_code(0, "off")
            .expect_line("Success: Powered OFF", "off");
        assert_eq!(peer.domstate("node1"), "shut off");
        run(&peer, &virt(), mode, o(), "on")
            .expect_code(0, "on")
            .expect_line("Success: Powered ON", "on");
        run(&peer, &virt(), mode, o().set("method", "cycle"), "reboot")
            .expect_code(0, "cycle")
            .expect_line("Success: Rebooted", "cycle");
        assert!(peer.running("node1"));
        let list = run(&peer, &virt(), mode, tcp(), "list");
        list.expect_code(0, "list");
        assert_eq!(list.result_lines().len(), 2, "{list:#?}");
    }
    let out = run(
        &peer,
        &virt(),
        Mode::Argv,
        tcp().set("plug", "nosuch"),
        "off",
    );
    out.expect_code(1, "unknown domain");
    assert!(out.stderr.contains("does not exist"), "{out:#?}");
    let out = run(
        &peer,
        &virt(),
        Mode::Argv,
        peer.opts().set("plug", "node1"),
        "off",
    );
    out.expect_code(1, "no --ipaddr");
    assert!(out.stderr.contains("serial mode"), "{out:#?}");
    assert!(peer.running("node1"));
    // Through the flaky front: one failed read per change, every action still succeeds.
    peer.reset();
    let flaky = || {
        tcp()
            .set("plug", "node1")
            .set("ipport", FLAKY_PORT)
            .set("power_wait", 0)
    };
    run(&peer, &virt(), Mode::Argv, flaky(), "off")
        .expect_code(0, "through the flaky front")
        .expect_line("Success: Powered OFF", "off");
    run(&peer, &virt(), Mode::Stdin, flaky(), "on")
        .expect_code(0, "through the flaky front")
        .expect_line("Success: Powered ON", "on");
    run(&peer, &virt(), Mode::Argv, flaky(), "reboot")
        .expect_code(0, "through the flaky front")
        .expect_line("Success: Rebooted", "reboot");
    assert!(peer.running("node1"));
    let log = peer.flaky_log();
    let failed = log.iter().filter(|l| l.starts_with("FLAKY status")).count();
    assert_eq!(failed, 4, "{log:#?}");

    let theirs = PathBuf::from("/usr/sbin/fence_virt");
    if !theirs.is_file() {
        testkit::skip::optional("/usr/sbin/fence_virt not installed (apt-get install fence-virt)");
        return;
    }
    for (opts, action, after) in [
        (tcp().set("plug", "node2"), "status", "running"),
        (tcp().set("plug", "node2"), "off", "shut off"),
        (tcp().set("plug", "node2"), "on", "running"),
        (
            tcp().set("plug", "node2").set("auth", "sha512"),
            "off",
            "running",
        ),
    ] {
        let what = format!("{action} {:?}", opts.argv());
        peer.reset();
        let t = run(&peer, &theirs, Mode::Stdin, opts.clone(), action);
        let their_state = peer.domstate("node2");
        peer.reset();
        let o = run(&peer, &virt(), Mode::Stdin, opts, action);
        assert_eq!(
            o.code, t.code,
            "{what}: exit codes\nours {o:#?}\ntheirs {t:#?}"
        );
        assert_eq!(peer.domstate("node2"), their_state, "{what}: state after");
        assert_eq!(their_state, after, "{what}");
        if action == "status" {
            assert_eq!(o.result_lines(), t.result_lines(), "{what}");
        }
    }
}
