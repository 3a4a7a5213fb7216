//! The `palisade` command line as a whole (no daemon): every command's `--help` exits 0
//! on stdout, usage errors exit 2 with clap's message on stderr, and the hidden
//! `generate` command writes completions and man pages naming the commands.

mod common_fencer;

use std::process::{Command, Output};

use common_fencer::{palisade, show, TempDir};

fn run(args: &[&str]) -> Output {
    Command::new(palisade())
        .args(args)
        .env_remove("PALISADE_SOCKET")
        .env_remove("PALISADE_NODE_SOCKET")
        .output()
        .expect("run palisade")
}

const COMMANDS: &[&[&str]] = &[
    &[],
    &["daemon"],
    &["fence"],
    &["unfence"],
    &["query"],
    &["devices"],
    &["levels"],
    &["register"],
    &["unregister"],
    &["history"],
    &["events"],
    &["metrics"],
    &["validate"],
    &["metadata"],
    &["import"],
    &["node"],
    &["node", "standby"],
    &["node", "online"],
    &["node", "maintenance"],
    &["node", "ready"],
    &["status"],
    &["resource"],
    &["resource", "move"],
    &["resource", "ban"],
    &["resource", "clear"],
    &["resource", "cleanup"],
    &["resource", "stop"],
    &["resource", "start"],
    &["explain"],
    &["maintenance"],
    &["maintenance", "on"],
    &["maintenance", "off"],
    &["generate"],
    &["generate", "completions"],
    &["generate", "man"],
];

#[test]
fn every_command_has_help() {
    for command in COMMANDS {
        for flag in ["--help", "-h"] {
            let mut args = command.to_vec();
            args.push(flag);
            let out = run(&args);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("Usage: palisade"), "{args:?}: {text}");
            assert!(out.stderr.is_empty(), "{args:?}: {}", show(&out));
        }
    }
    for args in [
        &["help"][..],
        &["help", "import"],
        &["help", "node", "standby"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
    let out = run(&["-V"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("palisade {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_on_stderr() {
    for args in [
        &["status", "--bogus"][..],
        &["import", "--bogus"],
        &["fence", "n1", "--bogus=1"],
        &["node", "--config"],
        &["node", "--config", "x", "--socket", "/s"],
        &["node", "standby", "--config", "x"],
        &["resource", "move", "web"],
        &["maintenance", "maybe"],
        &["generate", "completions", "tcsh"],
        &["history", "--since", "@yesterday"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
}

#[test]
fn completions_and_man_pages_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["generate", "completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", show(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["fence", "unfence", "import", "standby", "cleanup", "socket"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
    }
    let dir = TempDir::new("cli-man");
    let out = run(&["generate", "man", dir.join("").to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let mut pages: Vec<String> = std::fs::read_dir(dir.join(""))
        .expect("man dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for page in [
        "palisade.1",
        "palisade-daemon.1",
        "palisade-fence.1",
        "palisade-import.1",
        "palisade-node.1",
        "palisade-node-ready.1",
        "palisade-resource-cleanup.1",
        "palisade-maintenance-on.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "{page} not in {pages:?}");
    }
    assert!(!pages.iter().any(|p| p.contains("generate")), "{pages:?}");
    let top = std::fs::read_to_string(dir.join("palisade.1")).expect("palisade.1");
    assert!(top.contains("fence"), "{top}");
    let out = run(&["generate", "man", "/nonexistent/dir"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}
