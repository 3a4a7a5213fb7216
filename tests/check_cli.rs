//! `palisade check` on a table of real-world-shaped configurations (tests/fixtures/check/):
//! pacemaker clusters with disk and diskless sbd, fence delays, palisade's own fencer
//! and node configurations. Each case's files are passed by their names; sbd headers
//! are written into an image with the sbd crate. Asserts on the exit code and the JSON
//! report's rules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sbd::blockdev::FileDevice;
use sbd::disk::SbdDisk;
use sbd::format::DiskTimeouts;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check")
}

/// An sbd image with these on-disk timeouts (watchdog, loop, msgwait), in a temp dir.
fn sbd_image(tag: &str, watchdog: u32, loop_timeout: u32, msgwait: u32) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("palisade-check-{tag}-{}.img", std::process::id()));
    let file = std::fs::File::create(&path).expect("image");
    file.set_len(1 << 20).expect("size");
    drop(file);
    let device = FileDevice::open(&path).expect("open image");
    let timeouts = DiskTimeouts {
        watchdog,
        allocate: 2,
        loop_timeout,
        msgwait,
    };
    SbdDisk::create(device, timeouts, [7; 16]).expect("create header");
    path
}

fn check(dir: &str, extra: &[&str]) -> Output {
    let d = fixtures().join(dir);
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    c.current_dir(&d).arg("check").arg("--json");
    for (file, flag) in [
        ("corosync.conf", "--corosync"),
        ("sbd", "--sbd-config"),
        ("cib.xml", "--cib"),
        ("fencer.toml", "--config"),
        ("node.toml", "--node-config"),
    ] {
        if d.join(file).exists() {
            c.arg(flag).arg(file);
        }
    }
    c.args(extra).output().expect("run palisade check")
}

fn rules(o: &Output, severity: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let mut out: Vec<String> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["rule"].as_str().unwrap_or("").to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

struct Case {
    dir: &'static str,
    /// The sbd header (watchdog, loop, msgwait), if the cluster has a disk.
    header: Option<(u32, u32, u32)>,
    exit: i32,
    unsafe_rules: &'static [&'static str],
    warnings: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        dir: "pcmk_sbd_good",
        header: Some((15, 1, 30)),
        exit: 0,
        unsafe_rules: &[],
        warnings: &[],
    },
    Case {
        dir: "pcmk_sbd_bad",
        header: Some((15, 1, 20)),
        exit: 9,
        unsafe_rules: &[
            "corosync-consensus",
            "device-timeout-msgwait",
            "fencing-timeout-msgwait",
            "sbd-msgwait",
        ],
        warnings: &[],
    },
    Case {
        dir: "diskless_good",
        header: None,
        exit: 0,
        unsafe_rules: &[],
        warnings: &[],
    },
    Case {
        dir: "diskless_bad",
        header: None,
        exit: 9,
        unsafe_rules: &["fencing-timeout-watchdog", "watchdog-fencing-timeout"],
        warnings: &[],
    },
    Case {
        dir: "diskless_margin",
        header: None,
        exit: 0,
        unsafe_rules: &[],
        warnings: &["watchdog-fencing-margin"],
    },
    Case {
        dir: "delay_too_long",
        header: None,
        exit: 9,
        unsafe_rules: &["device-delay"],
        warnings: &["priority-fencing-delay"],
    },
    Case {
        dir: "palisade_fencer_bad",
        header: None,
        exit: 9,
        unsafe_rules: &["device-delay"],
        warnings: &["priority-fencing-delay"],
    },
    Case {
        dir: "palisade_node_good",
        header: None,
        exit: 0,
        unsafe_rules: &[],
        warnings: &[],
    },
    Case {
        dir: "palisade_node_health_bad",
        header: None,
        exit: 9,
        unsafe_rules: &["sbd-health-keepalive"],
        warnings: &[],
    },
];

#[test]
fn the_table_of_configurations() {
    for case in CASES {
        let image = case.header.map(|(w, l, m)| sbd_image(case.dir, w, l, m));
        let extra: Vec<String> = image
            .iter()
            .flat_map(|p| ["--sbd-device".to_string(), p.display().to_string()])
            .collect();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let o = check(case.dir, &extra);
        if let Some(p) = &image {
            let _ = std::fs::remove_file(p);
        }
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(case.exit), "{}: {stderr}", case.dir);
        assert_eq!(rules(&o, "unsafe"), case.unsafe_rules, "{}", case.dir);
        assert_eq!(rules(&o, "warning"), case.warnings, "{}", case.dir);
    }
}

#[test]
fn every_finding_carries_values_formula_and_source() {
    let image = sbd_image("values", 15, 1, 20);
    let o = check(
        "pcmk_sbd_bad",
        &["--sbd-device", &image.display().to_string()],
    );
    let _ = std::fs::remove_file(&image);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let msgwait = json["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["rule"] == "sbd-msgwait"))
        .expect("sbd-msgwait finding")
        .clone();
    assert_eq!(msgwait["formula"], "msgwait >= 2 x watchdog timeout");
    assert_eq!(msgwait["values"][0]["ms"], 20_000);
    assert_eq!(msgwait["values"][1]["ms"], 15_000);
    assert!(msgwait["reference"]
        .as_str()
        .is_some_and(|r| r.contains("sbd.8.pod.in")));
    let derived = json["derived"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "sbd msgwait"))
        .expect("derived msgwait");
    assert_eq!(derived["min_ms"], 30_000);
}

#[test]
fn text_output_names_each_unsafe_pair() {
    let d = fixtures().join("diskless_bad");
    let o = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .current_dir(&d)
        .args(["check", "--sbd-config", "sbd", "--cib", "cib.xml"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(9));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("UNSAFE [watchdog-fencing-timeout]"), "{text}");
    assert!(
        text.contains("stonith-watchdog-timeout > SBD_WATCHDOG_TIMEOUT"),
        "{text}"
    );
}

#[test]
fn bad_inputs_are_config_errors() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .arg("check")
            .args(args)
            .output()
            .expect("run")
    };
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["--cib", "/nonexistent.xml"]).status.code(), Some(3));
    let dir = std::env::temp_dir().join(format!("palisade-check-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("cib.xml");
    std::fs::write(&bad, "<cib><configuration>").expect("write");
    let o = run(&["--cib", &bad.display().to_string()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not XML"));
    let zero = dir.join("zero.img");
    std::fs::write(&zero, vec![0u8; 4096]).expect("write");
    assert_eq!(
        run(&["--sbd-device", &zero.display().to_string()])
            .status
            .code(),
        Some(3)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn daemons_refuse_their_own_unsafe_configuration() {
    let dir = std::env::temp_dir().join(format!("palisade-check-refuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // The fencer: a device delay beyond the fencing timeout (the fixture).
    let fencer = fixtures().join("palisade_fencer_bad/fencer.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["daemon", "--config"])
        .arg(&fencer)
        .args(["--socket"])
        .arg(dir.join("f.sock"))
        .output()
        .expect("run daemon");
    assert_eq!(o.status.code(), Some(9));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("unsafe [device-delay]"), "{stderr}");
    assert!(!dir.join("f.sock").exists());
    // The node: keepalive not below the sbd watchdog timeout it reports health to.
    std::fs::write(dir.join("key"), "0123456789abcdef0123").expect("key");
    let node = fixtures().join("palisade_node_good/node.toml");
    let text = std::fs::read_to_string(node)
        .expect("node.toml")
        .replace("keepalive = \"200ms\"", "keepalive = \"5s\"")
        .replace("deadtime = \"2s\"", "deadtime = \"11s\"")
        .replace("watchdog-timeout = \"10s\"", "watchdog-timeout = \"20s\"");
    std::fs::write(dir.join("node.toml"), text).expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .current_dir(&dir)
        .args(["node", "--check", "--config", "node.toml"])
        .output()
        .expect("run node");
    assert_eq!(
        o.status.code(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("unsafe [sbd-health-keepalive]"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
