//! Agent classes besides OCF, pure: how pacemaker's executor runs LSB init scripts and
//! systemd units, turned into programs to run ([`Spec`]) and exit-code mappings onto [`OcfRc`].
//! The I/O (running them, polling systemd) is in [`super::agent_exec`].
//!
//! - **LSB** (`lsb:NAME`): `<lsb-dir>/NAME start|stop|status`; `monitor` runs `status`.
//!   Start and stop share OCF's codes 0-7 (anything else is a generic error). Status has
//!   its own: 0 running; 1 (dead, pid file left), 2 (dead, lock file left) and 3 not
//!   running; 4 unknown is an error; 150/151 (pacemaker's codes for not installed and
//!   insufficient privileges) map to OCF 5 and 4. LSB scripts get no parameters and a
//!   plain environment (PATH and LANG), as pacemaker passes them none.
//! - **systemd** (`systemd:UNIT`, `.service` added when the name has no unit suffix):
//!   `systemctl start|stop UNIT` (which wait for the job), then `systemctl is-active UNIT`
//!   until the unit has settled, as pacemaker follows a start or stop with monitors.
//!   `active`/`reloading` is running, `activating`/`deactivating` is still pending, any
//!   other state (inactive, failed, ...) is not running. Stopping a unit systemd does not
//!   know succeeds (nothing of it can run); starting it is OCF 5 (not installed).

use std::path::{Path, PathBuf};

use super::resources::OcfRc;
use crate::process::Spec;

/// Where `lsb:NAME` scripts live unless `[cluster] lsb-dir` says otherwise.
pub const DEFAULT_LSB_DIR: &str = "/etc/init.d";
/// The `systemctl` run unless `[cluster] systemctl` names another program.
pub const DEFAULT_SYSTEMCTL: &str = "/bin/systemctl";
/// Exists only while systemd is PID 1 (what `sd_booted()` checks).
pub const SYSTEMD_BOOTED_DIR: &str = "/run/systemd/system";

/// The node-wide settings of the non-OCF classes (from `[cluster]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSettings {
    /// Directory of LSB init scripts.
    pub lsb_dir: PathBuf,
    /// A configured systemctl, trusted to reach a systemd. `None`: [`DEFAULT_SYSTEMCTL`],
    /// and systemd must be PID 1 here ([`SYSTEMD_BOOTED_DIR`]).
    pub systemctl: Option<PathBuf>,
}

impl Default for ClassSettings {
    fn default() -> Self {
        ClassSettings {
            lsb_dir: PathBuf::from(DEFAULT_LSB_DIR),
            systemctl: None,
        }
    }
}

impl ClassSettings {
    /// The systemctl program to run.
    pub fn systemctl_program(&self) -> PathBuf {
        self.systemctl
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SYSTEMCTL))
    }

    /// Whether systemd must be PID 1 before systemctl is run (the default program only).
    pub fn needs_booted_systemd(&self) -> bool {
        self.systemctl.is_none()
    }
}

/// The environment of LSB scripts and systemctl: a plain PATH and LANG.
pub fn plain_env() -> Vec<(String, String)> {
    vec![
        ("LANG".to_string(), "C".to_string()),
        (
            "PATH".to_string(),
            "/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
    ]
}

/// The init-script verb for an action (`monitor` is `status`).
pub fn lsb_verb(action: &str) -> &str {
    if action == "monitor" {
        "status"
    } else {
        action
    }
}

/// `<lsb_dir>/<script> <verb>`.
pub fn lsb_invocation(lsb_dir: &Path, script: &str, action: &str) -> Spec {
    Spec::clean(
        lsb_dir.join(script),
        vec![lsb_verb(action).to_string()],
        plain_env(),
    )
}

/// An LSB exit code as an OCF result, as pacemaker maps it.
pub fn lsb_rc(action: &str, code: i32) -> OcfRc {
    if lsb_verb(action) != "status" {
        return match code {
            0 => OcfRc::Success,
            7 => OcfRc::NotRunning,
            1..=6 => OcfRc::Error(code),
            _ => OcfRc::Error(1),
        };
    }
    match code {
        0 => OcfRc::Success,
        1..=3 => OcfRc::NotRunning,
        150 => OcfRc::Error(5),
        151 => OcfRc::Error(4),
        _ => OcfRc::Error(1),
    }
}

/// Unit suffixes pacemaker leaves alone; any other name gets `.service`.
const UNIT_SUFFIXES: &[&str] = &[".service", ".socket", ".mount", ".timer", ".path"];

/// The unit of `systemd:NAME`.
pub fn unit_name(name: &str) -> String {
    if UNIT_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// `systemctl --no-ask-password VERB UNIT` (`is-active` prints the unit's state).
pub fn systemctl_invocation(systemctl: &Path, verb: &str, unit: &str) -> Spec {
    Spec::clean(
        systemctl.to_path_buf(),
        vec!["--no-ask-password".into(), verb.into(), unit.into()],
        plain_env(),
    )
}

/// A unit's ActiveState as `systemctl is-active` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitState {
    /// `active` or `reloading`.
    Running,
    /// `activating` or `deactivating`: ask again.
    Pending(String),
    /// Anything else (`inactive`, `failed`, `maintenance`, ...).
    NotRunning(String),
}

impl std::fmt::Display for UnitState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnitState::Running => write!(f, "active"),
            UnitState::Pending(word) | UnitState::NotRunning(word) => write!(f, "{word}"),
        }
    }
}

/// The state in `systemctl is-active` output; `None` when it printed no state word
/// (systemctl itself failed).
pub fn unit_state(stdout: &str) -> Option<UnitState> {
    let word = stdout.lines().next()?.trim();
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return None;
    }
    Some(match word {
        "active" | "reloading" | "refreshing" => UnitState::Running,
        "activating" | "deactivating" => UnitState::Pending(word.to_string()),
        other => UnitState::NotRunning(other.to_string()),
    })
}

/// The systemctl verb of an action (`monitor` is `is-active`).
pub fn systemctl_verb(action: &str) -> &str {
    if action == "monitor" {
        "is-active"
    } else {
        action
    }
}

/// The exit code of `systemctl start|stop` (LSB's codes: 5 is "unit not found").
/// `None`: the job ran; the unit's state decides ([`settled`]).
pub fn systemctl_job_rc(action: &str, code: i32) -> Option<OcfRc> {
    match (action, code) {
        (_, 0) => None,
        ("stop", 5) => Some(OcfRc::Success),
        (_, 1..=6) => Some(OcfRc::Error(code)),
        _ => Some(OcfRc::Error(1)),
    }
}

/// The result of `action` once the unit is in `state`; `None` while it must be asked
/// again (pending, or still running after a stop).
pub fn settled(action: &str, state: &UnitState) -> Option<OcfRc> {
    match (action, state) {
        (_, UnitState::Pending(_)) => None,
        ("stop", UnitState::Running) => None,
        ("stop", UnitState::NotRunning(_)) => Some(OcfRc::Success),
        ("start", UnitState::NotRunning(_)) => Some(OcfRc::Error(1)),
        (_, UnitState::Running) => Some(OcfRc::Success),
        (_, UnitState::NotRunning(_)) => Some(OcfRc::NotRunning),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsb_runs_status_for_monitor_in_a_plain_environment() {
        let inv = lsb_invocation(Path::new("/etc/init.d"), "httpd", "monitor");
        assert_eq!(inv.program, PathBuf::from("/etc/init.d/httpd"));
        assert_eq!(inv.args, ["status"]);
        assert_eq!(lsb_invocation(Path::new("/x"), "a", "stop").args, ["stop"]);
        let names: Vec<&str> = inv.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["LANG", "PATH"]);
    }

    #[test]
    fn lsb_status_codes_follow_pacemaker() {
        for action in ["monitor", "status"] {
            assert_eq!(lsb_rc(action, 0), OcfRc::Success);
            for dead in [1, 2, 3] {
                assert_eq!(lsb_rc(action, dead), OcfRc::NotRunning, "{dead}");
            }
            assert_eq!(lsb_rc(action, 4), OcfRc::Error(1));
            assert_eq!(lsb_rc(action, 150), OcfRc::Error(5));
            assert_eq!(lsb_rc(action, 151), OcfRc::Error(4));
            assert_eq!(lsb_rc(action, 7), OcfRc::Error(1));
        }
    }

    #[test]
    fn lsb_start_and_stop_codes_are_ocf_codes_up_to_seven() {
        for action in ["start", "stop"] {
            assert_eq!(lsb_rc(action, 0), OcfRc::Success);
            for code in 1..=6 {
                assert_eq!(lsb_rc(action, code), OcfRc::Error(code));
            }
            assert_eq!(lsb_rc(action, 7), OcfRc::NotRunning);
            assert_eq!(lsb_rc(action, 8), OcfRc::Error(1));
            assert_eq!(lsb_rc(action, 255), OcfRc::Error(1));
        }
    }

    #[test]
    fn unit_names_get_service_unless_suffixed() {
        assert_eq!(unit_name("nginx"), "nginx.service");
        assert_eq!(unit_name("nginx.service"), "nginx.service");
        assert_eq!(unit_name("data.mount"), "data.mount");
        assert_eq!(unit_name("app@1"), "app@1.service");
        assert_eq!(unit_name("my.app"), "my.app.service");
    }

    #[test]
    fn systemctl_commands() {
        let inv = systemctl_invocation(Path::new("/bin/systemctl"), "is-active", "a.service");
        assert_eq!(inv.args, ["--no-ask-password", "is-active", "a.service"]);
        assert_eq!(systemctl_verb("monitor"), "is-active");
        assert_eq!(systemctl_verb("start"), "start");
        let default = ClassSettings::default();
        assert_eq!(
            default.systemctl_program(),
            PathBuf::from(DEFAULT_SYSTEMCTL)
        );
        assert!(default.needs_booted_systemd());
        let fake = ClassSettings {
            systemctl: Some("/t/systemctl".into()),
            ..ClassSettings::default()
        };
        assert_eq!(fake.systemctl_program(), PathBuf::from("/t/systemctl"));
        assert!(!fake.needs_booted_systemd());
    }

    #[test]
    fn unit_states_as_pacemaker_reads_them() {
        assert_eq!(unit_state("active\n"), Some(UnitState::Running));
        assert_eq!(unit_state("reloading\n"), Some(UnitState::Running));
        assert_eq!(
            unit_state("activating\n"),
            Some(UnitState::Pending("activating".into()))
        );
        assert_eq!(
            unit_state("failed\n"),
            Some(UnitState::NotRunning("failed".into()))
        );
        assert_eq!(
            unit_state("inactive"),
            Some(UnitState::NotRunning("inactive".into()))
        );
        assert_eq!(unit_state(""), None);
        assert_eq!(UnitState::NotRunning("failed".into()).to_string(), "failed");
        assert_eq!(unit_state("System has not been booted with systemd"), None);
    }

    #[test]
    fn systemd_results_per_action() {
        assert_eq!(systemctl_job_rc("start", 0), None);
        assert_eq!(systemctl_job_rc("start", 5), Some(OcfRc::Error(5)));
        assert_eq!(systemctl_job_rc("stop", 5), Some(OcfRc::Success));
        assert_eq!(systemctl_job_rc("stop", 1), Some(OcfRc::Error(1)));
        assert_eq!(systemctl_job_rc("start", 200), Some(OcfRc::Error(1)));
        let running = UnitState::Running;
        let pending = UnitState::Pending("activating".into());
        let failed = UnitState::NotRunning("failed".into());
        assert_eq!(settled("start", &running), Some(OcfRc::Success));
        assert_eq!(settled("start", &pending), None);
        assert_eq!(settled("start", &failed), Some(OcfRc::Error(1)));
        assert_eq!(settled("stop", &running), None);
        assert_eq!(settled("stop", &failed), Some(OcfRc::Success));
        assert_eq!(settled("monitor", &running), Some(OcfRc::Success));
        assert_eq!(settled("monitor", &failed), Some(OcfRc::NotRunning));
        assert_eq!(settled("monitor", &pending), None);
    }
}
