//! `palisade import` end to end: heartbeat v1 files in, palisade TOML out, the derived
//! key written 0600 (never over an existing file), clear errors for bad input, and the
//! output accepted by `palisade node --check` on every node.

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

#[test]
fn the_imported_configuration_passes_palisade_node_check() {
    let dir = TempDir::new("import-check");
    std::fs::write(
        dir.join("ha.cf"),
        format!("{HA_CF}ucast eth1 10.1.0.2\nping 10.0.0.254\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("haresources"),
        "alpha 192.168.1.5 httpd\nbeta Filesystem::/dev/sdb1::/srv/data::ext4 postgresql\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("authkeys"),
        "auth 2\n2 sha1 AnotherSecretForTheTest\n",
    )
    .unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = dir.join("authkey");
    let out = import(
        &dir,
        &[
            "--haresources",
            dir.join("haresources").to_str().unwrap(),
            "--authkeys",
            dir.join("authkeys").to_str().unwrap(),
            "--key-out",
            key.to_str().unwrap(),
            "--addresses",
            "alpha=10.0.0.1,10.1.0.1 beta=10.0.0.2,10.1.0.2",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let config = dir.join("palisade.toml");
    std::fs::write(&config, &out.stdout).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for needle in [
        "agent = \"ocf:heartbeat:IPaddr2\"",
        "agent = \"lsb:httpd\"",
        "agent = \"lsb:postgresql\"",
        "fstype = \"ext4\"",
        "members = [\"fs-srv-data\", \"postgresql\"]",
        "ping-targets = [\"10.0.0.254\"]",
        &format!("key-file = \"{}\"", key.display()),
    ] {
        assert!(text.contains(needle), "{needle} missing in:\n{text}");
    }
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        warnings.contains("ping nodes (10.0.0.254) imported as [quorum] ping-targets"),
        "{warnings}"
    );
    for node in ["alpha", "beta"] {
        let check = Command::new(palisade())
            .args([
                "node",
                "--config",
                config.to_str().unwrap(),
                "--node",
                node,
                "--check",
            ])
            .output()
            .expect("run palisade node --check");
        let said = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success(), "{node}: {check:?}\n{text}");
        assert!(
            said.contains("2 node(s), 2 ring(s), 4 resource(s)"),
            "{node}: {said}"
        );
    }
    // Without --addresses the configuration says what is missing.
    let bare = import(
        &dir,
        &["--haresources", dir.join("haresources").to_str().unwrap()],
    );
    assert!(bare.status.success(), "{bare:?}");
    assert!(
        String::from_utf8_lossy(&bare.stderr)
            .contains("--addresses 'NODE=IP[,IP] ...' (ucast peers in ha.cf: 10.1.0.2)"),
        "{bare:?}"
    );
    std::fs::write(&config, &bare.stdout).unwrap();
    let check = Command::new(palisade())
        .args([
            "node",
            "--config",
            config.to_str().unwrap(),
            "--node",
            "alpha",
            "--check",
        ])
        .output()
        .expect("run palisade node --check");
    assert_eq!(check.status.code(), Some(3), "{check:?}");
    // A bad address is a clear error.
    let bad = import(&dir, &["--addresses", "alpha=10.0.0.x"]);
    assert_eq!(bad.status.code(), Some(3), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'10.0.0.x' is not an IP address"));
}

#[test]
fn heartbeat_files_can_be_given_in_heartbeats_order() {
    let dir = TempDir::new("import-positional");
    std::fs::write(dir.join("ha.cf"), HA_CF).unwrap();
    std::fs::write(dir.join("haresources"), "alpha 192.168.1.5 httpd\n").unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 SomeSecretKeyText\n").unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // What a heartbeat admin types in /etc/ha.d.
    let run = |args: &[&str]| {
        Command::new(palisade())
            .arg("import")
            .args(args)
            .current_dir(dir.join(""))
            .output()
            .expect("run palisade import")
    };
    let positional = run(&["ha.cf", "haresources", "authkeys"]);
    assert_eq!(positional.status.code(), Some(0), "{positional:?}");
    let by_option = run(&[
        "--ha-cf",
        "ha.cf",
        "--haresources",
        "haresources",
        "--authkeys=authkeys",
    ]);
    assert_eq!(by_option.status.code(), Some(0), "{by_option:?}");
    assert_eq!(positional.stdout, by_option.stdout);
    let toml = String::from_utf8_lossy(&positional.stdout);
    assert!(
        toml.contains("name = \"alpha\"") && toml.contains("192.168.1.5"),
        "{toml}"
    );
    // ha.cf alone: the other files are optional.
    assert_eq!(run(&["ha.cf"]).status.code(), Some(0));
    // A file named both ways, or a fourth file, is a usage error.
    assert_eq!(run(&["ha.cf", "--ha-cf", "ha.cf"]).status.code(), Some(2));
    assert_eq!(
        run(&["ha.cf", "haresources", "authkeys", "extra"])
            .status
            .code(),
        Some(2)
    );
    // A missing file named positionally is a configuration error, as by option.
    assert_eq!(run(&["nonexistent.cf"]).status.code(), Some(3));
}
