//! `palisade import` end to end: heartbeat v1 files in, palisade TOML out, the derived
//! key written 0600 (never over an existing file), clear errors for bad input.

mod common_fencer;

use common_fencer::{palisade, TempDir};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const HA_CF: &str = "keepalive 1\ndeadtime 10\nwarntime 5\ninitdead 30\nudpport 694\n\
                     bcast eth0\nauto_failback on\nnode alpha\nnode beta\n";

fn import(dir: &TempDir, extra: &[&str]) -> std::process::Output {
    Command::new(palisade())
        .arg("import")
        .arg("--ha-cf")
        .arg(dir.join("ha.cf"))
        .args(extra)
        .output()
        .expect("run palisade import")
}

#[test]
fn heartbeat_files_become_a_palisade_config_and_key() {
    let dir = TempDir::new("import");
    std::fs::write(dir.join("ha.cf"), HA_CF).unwrap();
    std::fs::write(dir.join("haresources"), "alpha 192.168.1.5 httpd\n").unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 SomeSecretKeyText\n").unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = dir.join("key");
    let hr = dir.join("haresources");
    let ak = dir.join("authkeys");
    let args = [
        "--haresources",
        hr.to_str().unwrap(),
        "--authkeys",
        ak.to_str().unwrap(),
        "--key-out",
        key.to_str().unwrap(),
    ];
    let out = import(&dir, &args);
    assert!(out.status.success(), "{out:?}");
    let toml = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "[timers]",
        "deadtime = \"10s\"",
        "name = \"alpha\"",
        "192.168.1.5",
    ] {
        assert!(toml.contains(needle), "{needle} missing in:\n{toml}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("weak"),
        "sha1 must be called weak: {stderr}"
    );
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.len(), 32);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // A second run never overwrites the key.
    let again = import(&dir, &args);
    assert!(!again.status.success(), "overwrote the key: {again:?}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = TempDir::new("import-bad");
    let out = import(&dir, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    std::fs::write(dir.join("ha.cf"), "frobnicate yes\nnode a\n").unwrap();
    let out = import(&dir, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("frobnicate"),
        "{out:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
