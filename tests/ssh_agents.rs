//! Our SSH power agents end to end against a real OpenSSH server on loopback
//! (tests/fixtures/sshd.sh, one server per test) whose remote side is a stand-in
//! device: `fence_virsh` against a fake `virsh` keeping domain states in files, and
//! `fence_ilo_ssh` against a fake iLO command line.
//!
//! Covered: every action via argv and stdin, password, keyboard-interactive and key
//! logins (with and without passphrase), refused logins, unknown domains with and
//! without `--missing-as-off`, `--use-sudo`, the known_hosts policy (strict by default,
//! accept-new, changed keys, hashed entries, key-type preference), and timeouts. The
//! side-by-side comparison with ClusterLabs' agents is `ssh_agents_clusterlabs.rs`.

#[macro_use]
mod common;
mod ssh_peer;

use common::*;
use ssh_peer::*;

fn virsh_agent() -> std::path::PathBuf {
    built_binary("fence_virsh")
}

fn ilo_agent() -> std::path::PathBuf {
    built_binary("fence_ilo_ssh")
}

fn virsh_status_on_and_off(mode: Mode) {
    let peer = Sshd::start(Device::Virsh);
    peer.set_vm("vm2", "shut off");
    let on = peer.password_options("status").set("plug", "vm1");
    run_agent(&virsh_agent(), mode, &on)
        .expect_code(0, "status of a running domain")
        .expect_line("Status: ON", "status of a running domain");
    let off = peer.password_options("status").set("plug", "vm2");
    run_agent(&virsh_agent(), mode, &off)
        .expect_code(2, "status of a stopped domain")
        .expect_line("Status: OFF", "status of a stopped domain");
    assert_eq!(
        peer.virsh_log(),
        vec!["virsh domstate vm1", "virsh domstate vm2"]
    );
}
both_modes!(virsh_status, virsh_status_on_and_off);

fn virsh_off_on_reboot(mode: Mode) {
    let peer = Sshd::start(Device::Virsh);
    let opts = |action: &str| peer.password_options(action).set("plug", "vm1");
    run_agent(&virsh_agent(), mode, &opts("off"))
        .expect_code(0, "off")
        .expect_line("Success: Powered OFF", "off");
    assert_eq!(peer.vm("vm1"), "shut off");
    run_agent(&virsh_agent(), mode, &opts("off"))
        .expect_code(0, "off again")
        .expect_line("Success: Already OFF", "off again");
    run_agent(&virsh_agent(), mode, &opts("on"))
        .expect_code(0, "on")
        .expect_line("Success: Powered ON", "on");
    assert_eq!(peer.vm("vm1"), "running");
    peer.clear_logs();
    run_agent(&virsh_agent(), mode, &opts("reboot"))
        .expect_code(0, "reboot")
        .expect_line("Success: Rebooted", "reboot");
    assert_eq!(peer.vm("vm1"), "running");
    assert_eq!(
        peer.virsh_changes(),
        vec!["virsh destroy vm1", "virsh start vm1"]
    );
}
both_modes!(virsh_power, virsh_off_on_reboot);

fn virsh_list_and_list_status(mode: Mode) {
    let peer = Sshd::start(Device::Virsh);
    peer.set_vm("vm2", "shut off");
    peer.set_vm("vm3", "paused");
    let out = run_agent(&virsh_agent(), mode, &peer.password_options("list"));
    out.expect_code(0, "list");
    assert_eq!(out.result_lines(), vec!["vm1,", "vm2,", "vm3,"], "{out:#?}");
    let out = run_agent(
        &virsh_agent(),
        mode,
        &peer.password_options("list-status").set("separator", ";"),
    );
    out.expect_code(0, "list-status");
    assert_eq!(
        out.result_lines(),
        vec!["vm1;;ON", "vm2;;OFF", "vm3;;ON"],
        "{out:#?}"
    );
    // list-status reads the states from the one `virsh list`.
    assert!(!peer.virsh_log().iter().any(|l| l.contains("domstate")));
    run_agent(&virsh_agent(), mode, &peer.password_options("monitor")).expect_code(0, "monitor");
}
both_modes!(virsh_list, virsh_list_and_list_status);

fn virsh_unknown_domain(mode: Mode) {
    let peer = Sshd::start(Device::Virsh);
    let out = run_agent(
        &virsh_agent(),
        mode,
        &peer.password_options("status").set("plug", "vm9"),
    );
    out.expect_code(1, "unknown domain");
    assert!(out.stderr.contains("vm9"), "{out:#?}");
    run_agent(
        &virsh_agent(),
        mode,
        &peer
            .password_options("status")
            .set("plug", "vm9")
            .flag("missing_as_off"),
    )
    .expect_code(2, "unknown domain, missing-as-off")
    .expect_line("Status: OFF", "unknown domain, missing-as-off");
    run_agent(
        &virsh_agent(),
        mode,
        &peer
            .password_options("off")
            .set("plug", "vm9")
            .flag("missing_as_off"),
    )
    .expect_code(0, "off of an unknown domain, missing-as-off")
    .expect_line("Success: Already OFF", "off, missing-as-off");
}
both_modes!(virsh_missing, virsh_unknown_domain);

#[test]
fn virsh_several_plugs_and_odd_names_are_quoted() {
    let peer = Sshd::start(Device::Virsh);
    peer.set_vm("vm2", "shut off");
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &peer.password_options("status").set("plug", "vm1,vm2"),
    );
    out.expect_code(0, "any plug on is ON")
        .expect_line("Status: ON", "two plugs");
    // A name with shell syntax reaches virsh as one word, never as shell code.
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &peer
            .password_options("status")
            .set("plug", "x; touch /tmp/pwned-by-plug"),
    );
    out.expect_code(1, "odd name");
    assert!(!std::path::Path::new("/tmp/pwned-by-plug").exists());
    assert!(peer
        .virsh_log()
        .contains(&"virsh domstate x; touch /tmp/pwned-by-plug".to_string()));
}

#[test]
fn virsh_key_logins() {
    let peer = Sshd::start(Device::Virsh);
    let base = |action: &str| peer.options(action, &peer.unchecked()).set("plug", "vm1");
    // ed25519 key without passphrase, -k
    run_agent(
        &virsh_agent(),
        Mode::Argv,
        &base("status").set("identity_file", peer.key("client_ed25519").display()),
    )
    .expect_code(0, "ed25519 key")
    .expect_line("Status: ON", "ed25519 key");
    // RSA key with its passphrase as -p (ClusterLabs' meaning of -p with -k)
    run_agent(
        &virsh_agent(),
        Mode::Stdin,
        &base("status")
            .set("identity_file", peer.key("client_rsa").display())
            .set("password", KEY_PASS),
    )
    .expect_code(0, "rsa key with passphrase")
    .expect_line("Status: ON", "rsa key with passphrase");
    // Wrong passphrase: clear error, exit 1, and the passphrase is never printed.
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &base("status")
            .set("identity_file", peer.key("client_rsa").display())
            .set("password", "not-the-passphrase"),
    );
    out.expect_code(1, "wrong passphrase");
    assert!(out.stderr.contains("identity file"), "{out:#?}");
    assert!(!out.stderr.contains("not-the-passphrase"), "{out:#?}");
    // A key file that does not exist is a usage error.
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &base("status").set("identity_file", "/nonexistent/key"),
    );
    out.expect_code(1, "missing identity file");
    assert!(
        out.stderr
            .contains("Identity file /nonexistent/key does not exist"),
        "{out:#?}"
    );
}

#[test]
fn wrong_password_is_login_denied() {
    let peer = Sshd::start(Device::Virsh);
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &peer
            .options("status", &peer.unchecked())
            .set("plug", "vm1")
            .set("password", "hunter2-wrong"),
    );
    out.expect_code(1, "wrong password");
    assert!(out.result_lines().is_empty(), "{out:#?}");
    assert!(
        out.stderr.contains("Unable to connect/login") && out.stderr.contains("refused"),
        "{out:#?}"
    );
    assert!(
        !out.stderr.contains("hunter2-wrong"),
        "password leaked: {out:#?}"
    );
    assert!(peer.virsh_log().is_empty());
}

#[test]
fn no_password_nor_key_is_a_usage_error() {
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &Options::new()
            .set("action", "status")
            .set("ip", LOOPBACK)
            .set("username", USER)
            .set("plug", "vm1"),
    );
    out.expect_code(1, "no password");
    assert!(
        out.stderr
            .contains("Failed: You have to enter password, password script or identity file"),
        "{out:#?}"
    );
}

#[test]
fn keyboard_interactive_password_login() {
    let peer = Sshd::start_with(Device::Virsh, PasswordMethod::KeyboardInteractive);
    run_agent(
        &virsh_agent(),
        Mode::Stdin,
        &peer.password_options("status").set("plug", "vm1"),
    )
    .expect_code(0, "keyboard-interactive")
    .expect_line("Status: ON", "keyboard-interactive");
}

#[test]
fn use_sudo_prefixes_every_virsh_command() {
    let peer = Sshd::start(Device::Virsh);
    let sudo = peer.dir.join("bin/fake-sudo");
    let opts = |action: &str| {
        peer.password_options(action)
            .set("plug", "vm1")
            .flag("use_sudo")
            .set("sudo_path", sudo.display())
    };
    run_agent(&virsh_agent(), Mode::Argv, &opts("off"))
        .expect_code(0, "off with sudo")
        .expect_line("Success: Powered OFF", "off with sudo");
    let log = peer.sudo_log();
    assert!(log.len() >= 3, "{log:?}");
    assert!(log.iter().all(|l| l.starts_with("sudo virsh ")), "{log:?}");
    assert!(
        log.contains(&"sudo virsh destroy vm1".to_string()),
        "{log:?}"
    );
}

/// `--ssh-options` with the given known_hosts file and policy (no ClusterLabs shell).
fn host_check(file: &std::path::Path, policy: &str) -> String {
    format!(
        "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=none -o StrictHostKeyChecking={policy}",
        file.display()
    )
}

#[test]
fn host_keys_strict_by_default_then_accept_new() {
    let peer = Sshd::start(Device::Virsh);
    let file = peer.known_hosts("known_hosts", &[]);
    let opts = |so: &str| {
        peer.options("status", so)
            .set("plug", "vm1")
            .set("password", PASS)
    };
    // Strict (the default): an unknown host is refused, with advice.
    let default_policy = format!(
        "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=none",
        file.display()
    );
    let out = run_agent(&virsh_agent(), Mode::Argv, &opts(&default_policy));
    out.expect_code(1, "unknown host, strict");
    assert!(
        out.stderr.contains("is not known") && out.stderr.contains("accept-new"),
        "{out:#?}"
    );
    assert!(
        peer.virsh_log().is_empty(),
        "nothing may run before the key is trusted"
    );
    // accept-new records the key and logs in ...
    run_agent(
        &virsh_agent(),
        Mode::Argv,
        &opts(&host_check(&file, "accept-new")),
    )
    .expect_code(0, "accept-new")
    .expect_line("Status: ON", "accept-new");
    let recorded = std::fs::read_to_string(&file).unwrap();
    assert!(
        recorded.starts_with(&format!("{} ", peer.host_token())),
        "{recorded}"
    );
    // ... after which strict checking passes.
    run_agent(&virsh_agent(), Mode::Argv, &opts(&default_policy))
        .expect_code(0, "recorded host, strict")
        .expect_line("Status: ON", "recorded host, strict");
}

#[test]
fn changed_host_key_is_refused_even_with_accept_new() {
    let peer = Sshd::start(Device::Virsh);
    // The host on file with a different ed25519 key (another test server's).
    let other = Sshd::start(Device::Virsh);
    let stale = format!("{} {}", peer.host_token(), other.host_key("ed25519"));
    let file = peer.known_hosts("known_hosts", &[stale]);
    for policy in ["yes", "accept-new"] {
        let out = run_agent(
            &virsh_agent(),
            Mode::Argv,
            &peer
                .options("status", &host_check(&file, policy))
                .set("plug", "vm1")
                .set("password", PASS),
        );
        out.expect_code(1, "changed host key");
        assert!(
            out.stderr.contains("HOST KEY CHANGED"),
            "{policy}: {out:#?}"
        );
    }
    assert!(peer.virsh_log().is_empty());
    // StrictHostKeyChecking=no is the user's explicit choice to skip the check.
    run_agent(
        &virsh_agent(),
        Mode::Argv,
        &peer
            .options("status", &host_check(&file, "no"))
            .set("plug", "vm1")
            .set("password", PASS),
    )
    .expect_code(0, "checking off");
}

#[test]
fn hashed_and_ecdsa_only_entries_are_honoured() {
    let peer = Sshd::start(Device::Virsh);
    // Only the server's ECDSA key on file: the agent must ask for that key type
    // although the server would offer ed25519 first.
    let line = format!("{} {}", peer.host_token(), peer.host_key("ecdsa"));
    let file = peer.known_hosts("known_hosts", &[line]);
    let hashed = std::process::Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&file)
        .output()
        .expect("ssh-keygen -H");
    assert!(hashed.status.success(), "{hashed:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("|1|"), "not hashed: {text}");
    run_agent(
        &virsh_agent(),
        Mode::Argv,
        &peer
            .options("status", &host_check(&file, "yes"))
            .set("plug", "vm1")
            .set("password", PASS),
    )
    .expect_code(0, "hashed ECDSA entry")
    .expect_line("Status: ON", "hashed ECDSA entry");
}

#[test]
fn unsupported_ssh_options_are_usage_errors() {
    let peer = Sshd::start(Device::Virsh);
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &peer
            .options("status", "-J bastion")
            .set("plug", "vm1")
            .set("password", PASS),
    );
    out.expect_code(1, "-J");
    assert!(out.stderr.contains("-J is not supported"), "{out:#?}");
}

#[test]
fn silent_server_times_out_at_login_timeout() {
    // Accepts TCP (the kernel does) but never sends an SSH banner.
    let listener = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &Options::new()
            .set("action", "status")
            .set("ip", LOOPBACK)
            .set("ipport", port)
            .set("username", USER)
            .set("password", PASS)
            .set("plug", "vm1")
            .set("login_timeout", 1),
    );
    out.expect_code(1, "silent server");
    assert!(out.stderr.contains("timed out"), "{out:#?}");
    // Giving up at the timeout rather than hanging: a hang is the harness killing the
    // agent (AGENT_HARD_LIMIT, no exit code); the time is in bench/ssh.sh.
    drop(listener);
}

#[test]
fn hanging_command_times_out_at_shell_timeout() {
    let peer = Sshd::start(Device::Virsh);
    peer.set_vm("vm1", "hang");
    let out = run_agent(
        &virsh_agent(),
        Mode::Argv,
        &peer
            .password_options("status")
            .set("plug", "vm1")
            .set("shell_timeout", 1),
    );
    out.expect_code(1, "hanging virsh");
    assert!(out.stderr.contains("timed out"), "{out:#?}");
    // Giving up at the timeout rather than hanging: a hang is the harness killing the
    // agent (AGENT_HARD_LIMIT, no exit code); the time is in bench/ssh.sh.
}

fn ilo_actions(mode: Mode) {
    let peer = Sshd::start(Device::Ilo);
    let opts = |action: &str| peer.password_options(action).set("power_wait", 0);
    run_agent(&ilo_agent(), mode, &opts("status"))
        .expect_code(0, "iLO status on")
        .expect_line("Status: ON", "iLO status on");
    run_agent(&ilo_agent(), mode, &opts("off"))
        .expect_code(0, "iLO off")
        .expect_line("Success: Powered OFF", "iLO off");
    assert_eq!(peer.ilo_power(), "off");
    run_agent(&ilo_agent(), mode, &opts("status"))
        .expect_code(2, "iLO status off")
        .expect_line("Status: OFF", "iLO status off");
    run_agent(&ilo_agent(), mode, &opts("on"))
        .expect_code(0, "iLO on")
        .expect_line("Success: Powered ON", "iLO on");
    peer.clear_logs();
    run_agent(&ilo_agent(), mode, &opts("reboot"))
        .expect_code(0, "iLO reboot")
        .expect_line("Success: Rebooted", "iLO reboot");
    assert_eq!(peer.ilo_changes(), vec!["power off hard", "start /system1"]);
    peer.clear_logs();
    run_agent(&ilo_agent(), mode, &opts("reboot").set("method", "cycle"))
        .expect_code(0, "iLO cycle")
        .expect_line("Success: Rebooted", "iLO cycle");
    assert_eq!(peer.ilo_changes(), vec!["reset /system1 hard"]);
    assert_eq!(
        peer.ilo_commands().first().map(String::as_str),
        Some("SMCLP")
    );
    run_agent(&ilo_agent(), mode, &opts("monitor")).expect_code(0, "iLO monitor");
}
both_modes!(ilo, ilo_actions);

#[test]
fn ilo_needs_ssh_and_right_password() {
    let peer = Sshd::start(Device::Ilo);
    let no_ssh = Options::new()
        .set("action", "status")
        .set("ip", LOOPBACK)
        .set("ipport", peer.port)
        .set("username", USER)
        .set("password", PASS);
    let out = run_agent(&ilo_agent(), Mode::Argv, &no_ssh);
    out.expect_code(1, "iLO without --ssh");
    assert!(out.stderr.contains("--ssh"), "{out:#?}");
    let out = run_agent(
        &ilo_agent(),
        Mode::Stdin,
        &peer
            .options("status", &peer.unchecked())
            .set("password", "wrong"),
    );
    out.expect_code(1, "iLO wrong password");
    assert!(out.stderr.contains("refused"), "{out:#?}");
}

#[test]
fn ilo_wrong_prompt_times_out_at_login() {
    let peer = Sshd::start(Device::Ilo);
    let out = run_agent(
        &ilo_agent(),
        Mode::Argv,
        &peer
            .password_options("status")
            .set("command_prompt", "NEVER-SEEN>")
            .set("login_timeout", 1),
    );
    out.expect_code(1, "unknown prompt");
    assert!(
        out.stderr.contains("timed out") && out.stderr.contains("NEVER-SEEN"),
        "{out:#?}"
    );
    // Giving up at the timeout rather than hanging: a hang is the harness killing the
    // agent (AGENT_HARD_LIMIT, no exit code); the time is in bench/ssh.sh.
}

#[test]
fn pacemaker_style_stdin() {
    // pacemaker-fenced: no argv, `port=` for the plug, deprecated names, nodename.
    let peer = Sshd::start(Device::Virsh);
    peer.set_vm("vm3", "shut off");
    let text = format!(
        "action=status\nnodename=node3\nport=vm3\nipaddr={LOOPBACK}\nipport={}\nlogin={USER}\n\
         passwd={PASS}\nsecure=1\nssh_options={}\n",
        peer.port,
        peer.unchecked()
    );
    let out = run_raw(&virsh_agent(), &[], Some(&text), &[]);
    out.expect_code(2, "pacemaker stdin")
        .expect_line("Status: OFF", "pacemaker stdin");
    assert!(!out.stderr.contains("nodename"), "{out:#?}");
}
