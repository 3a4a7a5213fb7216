//! The `palisade` command line without (or before) a daemon: version, usage errors,
//! `validate` of configs and agents, `metadata`, and the exit codes when the daemon is
//! unreachable or cannot start.

mod common_fencer;

use std::process::{Command, Output};

use common_fencer::*;

fn palisade_cli(args: &[&str]) -> Output {
    Command::new(palisade())
        .args(args)
        .output()
        .expect("run palisade")
}

#[test]
fn version_and_usage_errors() {
    let out = palisade_cli(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("palisade {}", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        &[][..],
        &["explode"][..],
        &["fence"][..],
        &["fence", "a", "b"][..],
        &["fence", "n1", "--action", "cycle"][..],
        &["fence", "n1", "--timeout", "soon"][..],
        &["devices", "--frobnicate"][..],
        &["history", "--limit", "many"][..],
        &["register", "x", "-o", "novalue", "--agent", "fence_x"][..],
    ] {
        let out = palisade_cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
    let help = palisade_cli(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("exit codes"));
}

#[test]
fn validate_configs() {
    let dir = TempDir::new("cli-validate");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[fencing]\nstonith-timeout = \"30s\"\n\
             [[device]]\nname = \"a\"\nagent = \"{0}\"\nparams = {{ pcmk_host_list = \"n1\" }}\n\
             [[device]]\nname = \"b\"\nagent = \"fence_does_not_exist\"\n\
             [[level]]\nindex = 1\ntarget = \"n1\"\ndevices = \"a\"\n\
             [[level]]\nindex = 2\ntarget = \"n1\"\ndevices = \"b\"\n",
            our_dummy().display()
        ),
    )
    .expect("write");
    let out = palisade_cli(&["validate", "--config", good.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 device(s), 2 level(s), fencing-timeout 30s"),
        "{text}"
    );
    assert!(text.contains("fence_does_not_exist not found"), "{text}");
    assert!(text.contains("may need up to 120s"), "{text}");

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[device]]\nname = \"a\"\nagent = \"fence_x\"\nparams = { pcmk_host_check = \"maybe\" }\n",
    )
    .expect("write");
    let out = palisade_cli(&["validate", "--config", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pcmk_host_check=maybe"));
    let shadow = dir.join("shadow.toml");
    std::fs::write(
        &shadow,
        "[[device]]\nname = \"a\"\nagent = \"fence_x\"\nparams = { pcmk_host_list = \"node1 node2\" }\n\
         [[level]]\nindex = 1\ntarget = \"node1\"\ndevices = \"a\"\n\
         [[level]]\nindex = 2\ntarget-pattern = \"^node\"\ndevices = \"a\"\n",
    )
    .expect("write");
    let out = palisade_cli(&["validate", "--config", shadow.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("node1 matches the levels of node1 and ~^node; only those of node1 apply"),
        "{text}"
    );
    assert!(!text.contains("node2 matches"), "{text}");
    let out = palisade_cli(&["validate", "--config", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
}

#[test]
fn validate_and_metadata_run_the_agent() {
    let dummy = our_dummy();
    let dummy = dummy.to_str().expect("utf-8");
    let out = palisade_cli(&["metadata", "--agent", dummy]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("<resource-agent") && xml.contains("status_file"),
        "{xml}"
    );
    let out = palisade_cli(&["validate", "--agent", dummy, "-o", "status_file=/tmp/x"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = palisade_cli(&[
        "validate",
        "--agent",
        dummy,
        "-o",
        "random_sleep_range=soon",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    if clusterlabs_dummy().is_some() {
        let out = palisade_cli(&["metadata", "--agent", "fence_dummy"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("<resource-agent"));
    }
    let out = palisade_cli(&["metadata", "--agent", "fence_no_such_agent"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn unreachable_daemon_and_daemon_start_errors() {
    let dir = TempDir::new("cli-daemon");
    let socket = dir.join("none.sock");
    let out = palisade_cli(&["devices", "--socket", socket.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is `palisade daemon` running?"));

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[daemon]\nsockett = 1\n").expect("write");
    let out = palisade_cli(&["daemon", "--config", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));

    // A second daemon on a socket that is in use refuses to start.
    let first = Daemon::start("cli-first", "", "");
    let out = palisade_cli(&["daemon", "--config", first.config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(7), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already listening"));
    let out = first.cli(&["devices"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the first daemon still serves: {}",
        show(&out)
    );
}

#[test]
fn documented_example_config_is_valid() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/fencer.example.toml");
    let out = palisade_cli(&["validate", "--config", example.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("4 device(s), 4 level(s), fencing-timeout 90s"),
        "{text}"
    );
}
