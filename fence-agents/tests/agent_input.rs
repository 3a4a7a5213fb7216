//! Hostile input on argv and stdin ends every agent with exit 1 and one clear error
//! record, never a panic or abort: times too large (infinite included), negative or NaN for any
//! timing option, and arguments that are not UTF-8.

mod common;

use common::{run_agent, Ran, AGENTS};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Every option of type `second` every agent has (the framework's timing options).
const TIME_OPTIONS: &[&str] = &[
    "delay",
    "login_timeout",
    "power_timeout",
    "power_wait",
    "shell_timeout",
    "stonith_status_sleep",
];

fn assert_refused(ran: &Ran, expected: &str, what: &str) {
    assert_eq!(ran.code, Some(1), "{what}: {ran:?}");
    let errors = ran.records("ERROR");
    assert!(
        errors.iter().any(|e| e == expected),
        "{what}: no error record {expected:?} in {ran:?}"
    );
}

#[test]
fn huge_times_are_refused_on_argv_and_stdin_by_every_agent() {
    for agent in AGENTS {
        for option in TIME_OPTIONS {
            let long = option.replace('_', "-");
            let expected = format!(
                "Failed: The value you have entered for --{long} is more than 86400 seconds"
            );
            let ran = run_agent(
                agent,
                &[format!("--{long}=1e20"), "-o".into(), "status".into()],
                None,
            );
            assert_refused(&ran, &expected, &format!("{agent} --{long}=1e20"));
            let ran =
                run_agent::<&str>(agent, &[], Some(&format!("action=status\n{option}=1e20\n")));
            assert_refused(&ran, &expected, &format!("{agent} stdin {option}=1e20"));
        }
    }
}

#[test]
fn nan_infinite_and_negative_times_are_not_times() {
    for value in ["NaN", "inf", "-inf", "-1", "1e400"] {
        let ran = run_agent::<&str>(
            "fence_dummy",
            &[],
            Some(&format!("action=status\npower_timeout={value}\n")),
        );
        let expected = if value == "1e400" || value == "inf" {
            "Failed: The value you have entered for --power-timeout is more than 86400 seconds"
        } else {
            "Failed: The value you have entered for --power-timeout is not a valid time in seconds"
        };
        assert_refused(&ran, expected, value);
    }
}

#[test]
fn a_huge_ipmitool_timeout_is_refused() {
    let ran = run_agent(
        "fence_ipmilan",
        &[
            "-a",
            "127.0.0.1",
            "--ipmitool-timeout=1e20",
            "-o",
            "validate-all",
        ],
        None,
    );
    assert_refused(
        &ran,
        "Failed: --ipmitool-timeout must be a positive number of seconds up to 86400, not '1e20'",
        "--ipmitool-timeout=1e20",
    );
}

#[test]
fn non_utf8_arguments_are_refused_by_every_agent() {
    for agent in AGENTS {
        let args = [
            OsString::from("-o"),
            OsString::from_vec(b"stat\xffus".to_vec()),
        ];
        let ran = run_agent(agent, &args, None);
        assert_refused(
            &ran,
            "Parse error: argument 'stat\u{fffd}us' is not valid UTF-8",
            agent,
        );
    }
}
