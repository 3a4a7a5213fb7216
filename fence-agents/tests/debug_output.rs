//! Credentials never reach stderr or the debug file, whatever the verbosity: the options
//! the agent's option table marks secret (SNMP community, v3 pass phrases and their
//! scripts, login password and its script, IPMI Kg key) show only as `[set]`, unknown
//! options are named without their value, and a debug file is created 0600 even under
//! umask 000. Devices are addressed on 127.0.0.1 only, on a UDP port nobody holds.

mod common;

use common::{run_agent, run_agent_with, Ran};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// A loopback UDP port that was free a moment ago (requests to it are refused at once).
fn closed_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("local address").port()
}

/// A fresh path for a debug file of this test process.
fn debug_path(tag: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("palisade-debug-{}-{tag}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Run with umask 000, so only the mode we ask for protects the debug file.
fn run_umask_000(agent: &str, args: &[String], stdin: Option<&str>) -> Ran {
    run_agent_with(agent, args, stdin, |cmd| {
        // SAFETY: umask is async-signal-safe and touches no memory.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    })
}

/// Neither stderr nor the debug file holds any of `secrets`; the file is 0600 and
/// holds the parameter dump (so the check is not vacuous).
fn assert_hidden(ran: &Ran, file: &PathBuf, secrets: &[&str]) {
    let logged = std::fs::read_to_string(file).expect("the debug file was written");
    for secret in secrets {
        assert!(!ran.stderr.contains(secret), "{secret} on stderr: {ran:?}");
        assert!(
            !logged.contains(secret),
            "{secret} in the debug file:\n{logged}"
        );
    }
    let dumps = ran.records("DEBUG");
    assert!(
        dumps.iter().any(|d| d.starts_with("Params {")),
        "no parameter dump on stderr: {ran:?}"
    );
    assert!(logged.contains(" DEBUG: Params {"), "{logged}");
    let mode = std::fs::metadata(file).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode of {}", file.display());
    let _ = std::fs::remove_file(file);
}

#[test]
fn snmp_community_is_hidden_at_debug_level_on_argv() {
    let file = debug_path("community");
    let args: Vec<String> = [
        "-a",
        "127.0.0.1",
        "-u",
        &closed_udp_port().to_string(),
        "-c",
        "CommunityS3cret",
        "-n",
        "1",
        "-o",
        "status",
        "-vv",
        "--login-timeout=1",
        "--shell-timeout=1",
        "-D",
        file.to_str().expect("UTF-8 temp path"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ran = run_umask_000("fence_apc_snmp", &args, None);
    assert_eq!(ran.code, Some(1), "no device answers: {ran:?}");
    assert!(
        ran.records("DEBUG")
            .iter()
            .any(|d| d.contains(r#""community": "[set]""#)),
        "{ran:?}"
    );
    assert_hidden(&ran, &file, &["CommunityS3cret"]);
}

#[test]
fn snmp_v3_pass_phrases_and_unknown_options_are_hidden_on_stdin() {
    let file = debug_path("v3");
    let stdin = format!(
        "action=status\nip=127.0.0.1\nipport={}\nplug=1\nsnmp_version=3\nlogin=fencer\n\
         passwd=AuthPhraseS3cret\nsnmp_priv_passwd=PrivPhraseS3cret\nsnmp_sec_level=authPriv\n\
         snmp_auth_prot=SHA\nsnmp_priv_prot=AES\nverbose_level=2\nlogin_timeout=1\n\
         shell_timeout=1\nbogus_option=UnknownS3cret\ndebug_file={}\n",
        closed_udp_port(),
        file.display()
    );
    let ran = run_umask_000("fence_apc_snmp", &[], Some(&stdin));
    assert_eq!(ran.code, Some(1), "no device answers: {ran:?}");
    assert!(
        ran.records("WARNING")
            .contains(&"Parse error: Ignoring unknown option 'bogus_option'".to_string()),
        "{ran:?}"
    );
    assert_hidden(
        &ran,
        &file,
        &["AuthPhraseS3cret", "PrivPhraseS3cret", "UnknownS3cret"],
    );
}

#[test]
fn password_scripts_are_hidden() {
    let file = debug_path("scripts");
    let stdin = format!(
        "action=status\nip=127.0.0.1\nipport={}\nplug=1\nsnmp_version=3\nlogin=fencer\n\
         passwd_script=echo AuthScriptS3cret\n\
         snmp_priv_passwd_script=echo PrivScriptS3cret\nverbose_level=2\n\
         login_timeout=1\nshell_timeout=1\ndebug_file={}\n",
        closed_udp_port(),
        file.display()
    );
    let ran = run_umask_000("fence_apc_snmp", &[], Some(&stdin));
    assert_eq!(ran.code, Some(1), "no device answers: {ran:?}");
    assert_hidden(&ran, &file, &["AuthScriptS3cret", "PrivScriptS3cret"]);
}

#[test]
fn ipmi_password_and_kg_key_are_hidden() {
    let file = debug_path("kg");
    let args: Vec<String> = [
        "-a",
        "127.0.0.1",
        "-p",
        "IpmiPassS3cret",
        "--hexadecimal-kg=5eC12e7a11",
        "-o",
        "validate-all",
        "-vv",
        "-D",
        file.to_str().expect("UTF-8 temp path"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ran = run_agent("fence_ipmilan", &args, None);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_hidden(&ran, &file, &["IpmiPassS3cret", "5eC12e7a11"]);
}

#[test]
fn a_non_utf8_secret_is_not_shown_in_the_error() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let args = [
        OsString::from("-a"),
        OsString::from("127.0.0.1"),
        OsString::from_vec(b"--password=PassS3cret\xff".to_vec()),
    ];
    let ran = run_agent("fence_ipmilan", &args, None);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(!ran.stderr.contains("PassS3cret"), "{ran:?}");
    assert!(
        ran.records("ERROR")
            .contains(&"Parse error: argument '--password=[hidden]' is not valid UTF-8".into()),
        "{ran:?}"
    );
}
