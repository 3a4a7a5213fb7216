//! Typed, validated options: raw text from `args` plus the defaults of the agent's
//! option table become [`Params`] — the action, the plugs, the timing — or a
//! [`UsageError`] worded as ClusterLabs words it (admins grep for those lines).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::agent::{Agent, Plugs};
use crate::args::{RawOptions, Source};
use crate::options::{Kind, OptionSpec};

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    On,
    Off,
    Reboot,
    Status,
    List,
    ListStatus,
    Monitor,
    Metadata,
    Manpage,
    ValidateAll,
    Diag,
}

impl Action {
    /// Parse an action word as ClusterLabs does (lower-cased, `meta-data` = metadata).
    pub fn parse(word: &str) -> Option<Action> {
        Some(match word.to_ascii_lowercase().as_str() {
            "on" | "enable" => Action::On,
            "off" | "disable" => Action::Off,
            "reboot" => Action::Reboot,
            "status" => Action::Status,
            "list" => Action::List,
            "list-status" => Action::ListStatus,
            "monitor" => Action::Monitor,
            "metadata" | "meta-data" => Action::Metadata,
            "manpage" => Action::Manpage,
            "validate-all" => Action::ValidateAll,
            "diag" => Action::Diag,
            _ => return None,
        })
    }

    /// The action's name as metadata lists it.
    pub fn name(self) -> &'static str {
        match self {
            Action::On => "on",
            Action::Off => "off",
            Action::Reboot => "reboot",
            Action::Status => "status",
            Action::List => "list",
            Action::ListStatus => "list-status",
            Action::Monitor => "monitor",
            Action::Metadata => "metadata",
            Action::Manpage => "manpage",
            Action::ValidateAll => "validate-all",
            Action::Diag => "diag",
        }
    }

    /// True for actions that talk to the device.
    pub fn contacts_device(self) -> bool {
        !matches!(
            self,
            Action::Metadata | Action::Manpage | Action::ValidateAll
        )
    }

    /// True for the actions `delay` applies to (ClusterLabs: off and reboot only).
    pub fn is_delayed(self) -> bool {
        matches!(self, Action::Off | Action::Reboot)
    }
}

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    OnOff,
    Cycle,
}

/// All timing knobs of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Sleep before off/reboot.
    pub delay: Duration,
    /// Sleep after each power command.
    pub power_wait: Duration,
    /// How long to poll for the new state after a power command.
    pub power_timeout: Duration,
    /// Bound of connecting and logging in.
    pub login_timeout: Duration,
    /// Bound of one command on a shell-like device.
    pub shell_timeout: Duration,
    /// Pause between status polls.
    pub status_sleep: Duration,
    /// Extra rounds of power on.
    pub retry_on: u32,
    /// The caller (pacemaker) governs time: no polling limit of our own.
    pub disable_timeout: bool,
}

/// Why the options cannot be used. Printed, then `Please use '-h' for usage`, exit 1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    /// Command line or stdin unreadable.
    #[error(transparent)]
    Args(#[from] crate::args::ArgsError),
    /// `--action` names no action of this agent.
    #[error("Failed: Unrecognised action '{0}'")]
    UnknownAction(String),
    /// No `--ip`.
    #[error("Failed: You have to enter fence address")]
    NoAddress,
    /// No `--username` where a login is needed.
    #[error("Failed: You have to set login name")]
    NoLogin,
    /// No password where one is needed.
    #[error("Failed: You have to enter password or password script")]
    NoPassword,
    /// No `--plug` on a plug-based agent.
    #[error("Failed: You have to enter plug number or machine identification")]
    NoPlug,
    /// `-n` on the command line of a port-less agent without `--port-as-ip`.
    #[error("Parser error: option -n/--plug is not recognized (use --port-as-ip to give the address as plug)")]
    PlugNeedsPortAsIp,
    /// Value not among the choices.
    #[error(
        "Failed: You have to enter a valid choice for --{option} from the valid values: {choices}"
    )]
    BadChoice { option: String, choices: String },
    /// Not a number.
    #[error("Failed: The value you have entered for --{0} is not a valid integer")]
    NotInteger(String),
    /// Not a time.
    #[error("Failed: The value you have entered for --{0} is not a valid time in seconds")]
    NotSeconds(String),
    /// A time above [`MAX_SECONDS`].
    #[error(
        "Failed: The value you have entered for --{0} is more than {max} seconds",
        max = MAX_SECONDS
    )]
    TooManySeconds(String),
    /// Agent-specific check failed.
    #[error("Failed: {0}")]
    Invalid(String),
}

/// Validated options of one run.
#[derive(Clone)]
pub struct Params {
    pub source: Source,
    pub action: Action,
    pub method: Method,
    pub timing: Timing,
    /// Verbosity (number of -v, or verbose_level).
    pub verbose: u32,
    pub quiet: bool,
    values: BTreeMap<&'static str, String>,
    given: Vec<&'static str>,
    /// Options the table marks secret (never shown).
    secrets: Vec<&'static str>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The parameter dump of `-vv` and the debug file: credentials, as the option
        // table marks them, show only that they are set.
        let shown: BTreeMap<_, _> = self
            .values
            .iter()
            .map(|(k, v)| {
                let v = if self.secrets.contains(k) {
                    "[set]"
                } else {
                    v.as_str()
                };
                (*k, v)
            })
            .collect();
        f.debug_struct("Params")
            .field("action", &self.action)
            .field("values", &shown)
            .finish()
    }
}

/// The longest time any option may give (one day, in seconds). Every timing option is a
/// bound on one fencing action, which the fencer itself gives up on long before this; a
/// larger value is a typo, and unbounded ones would overflow `Instant` arithmetic.
pub const MAX_SECONDS: f64 = 86_400.0;

/// Why a text is not a usable time in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondsError {
    /// Not a number, NaN or negative.
    Invalid,
    /// Above [`MAX_SECONDS`] (infinity included).
    TooLarge,
}

/// A time in seconds as options write it (`3`, `1.5`, `2e1`): a number from 0 to
/// [`MAX_SECONDS`]. The one parser of every timing option.
pub fn parse_seconds(text: &str) -> Result<Duration, SecondsError> {
    let v: f64 = text.trim().parse().map_err(|_| SecondsError::Invalid)?;
    if v.is_nan() || v < 0.0 {
        return Err(SecondsError::Invalid);
    }
    // Also +infinity, which is what a number too large for f64 parses to.
    if v > MAX_SECONDS {
        return Err(SecondsError::TooLarge);
    }
    Duration::try_from_secs_f64(v).map_err(|_| SecondsError::Invalid)
}

fn seconds(text: &str) -> Option<Duration> {
    parse_seconds(text).ok()
}

fn is_true(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "1" | "yes" | "on" | "true"
    )
}

impl Params {
    /// Type-check raw options against the agent's table and apply defaults. Required
    /// device options are checked separately ([`Params::check_required`]) because
    /// metadata and help need none of them.
    pub fn from_raw(
        specs: &[OptionSpec],
        raw: &RawOptions,
        default_action: &str,
        under_pacemaker: bool,
    ) -> Result<Params, UsageError> {
        let mut values = BTreeMap::new();
        for spec in specs {
            if let Some(d) = spec.default {
                values.insert(spec.name, d.to_string());
            }
        }
        values.insert("action", default_action.to_string());
        let mut given = Vec::new();
        for (name, value) in &raw.values {
            values.insert(*name, value.clone());
            given.push(*name);
        }
        for spec in specs {
            let Some(value) = values.get(spec.name) else {
                continue;
            };
            let option = spec.long_name();
            match spec.kind {
                Kind::Integer => {
                    value
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| UsageError::NotInteger(option))?;
                }
                Kind::Seconds => {
                    parse_seconds(value).map_err(|e| match e {
                        SecondsError::Invalid => UsageError::NotSeconds(option),
                        SecondsError::TooLarge => UsageError::TooManySeconds(option),
                    })?;
                }
                Kind::Select(choices) => {
                    let Some(declared) = choices.iter().find(|c| c.eq_ignore_ascii_case(value))
                    else {
                        return Err(UsageError::BadChoice {
                            option,
                            choices: format!("{choices:?}"),
                        });
                    };
                    values.insert(spec.name, declared.to_string());
                }
                Kind::Flag | Kind::Text => {}
            }
        }
        let action_word = values.get("action").cloned().unwrap_or_default();
        let action =
            Action::parse(&action_word).ok_or(UsageError::UnknownAction(action_word.clone()))?;
        let method = match values.get("method").map(String::as_str) {
            Some("cycle") => Method::Cycle,
            _ => Method::OnOff,
        };
        let get_s = |n: &str, d: u64| {
            values
                .get(n)
                .and_then(|v| seconds(v))
                .unwrap_or(Duration::from_secs(d))
        };
        let disable_timeout = match values.get("disable_timeout") {
            Some(v) => is_true(v),
            None => under_pacemaker,
        };
        let timing = Timing {
            delay: get_s("delay", 0),
            power_wait: get_s("power_wait", 0),
            power_timeout: get_s("power_timeout", 20),
            login_timeout: get_s("login_timeout", 5),
            shell_timeout: get_s("shell_timeout", 3),
            status_sleep: get_s("stonith_status_sleep", 1),
            retry_on: values
                .get("retry_on")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(1),
            disable_timeout,
        };
        let verbose = values
            .get("verbose_level")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(raw.verbose);
        let quiet = values.get("quiet").is_some_and(|v| v == "1");
        Ok(Params {
            source: raw.source,
            action,
            method,
            timing,
            verbose,
            quiet,
            values,
            given,
            secrets: specs.iter().filter(|s| s.secret).map(|s| s.name).collect(),
        })
    }

    /// The device options an action needs: address, login, password, plug.
    pub fn check_required(&self, agent: &Agent) -> Result<(), UsageError> {
        if matches!(agent.plugs, Plugs::None | Plugs::Systems)
            && self.source == Source::Argv
            && self.given.contains(&"plug")
            && !self.flag("port_as_ip")
        {
            return Err(UsageError::PlugNeedsPortAsIp);
        }
        if agent.needs_address && self.address().is_none() {
            return Err(UsageError::NoAddress);
        }
        if agent.needs_login && self.text("username").is_none() {
            return Err(UsageError::NoLogin);
        }
        if agent.needs_password
            && self.text("password").is_none()
            && self.text("password_script").is_none()
        {
            return Err(UsageError::NoPassword);
        }
        if let Plugs::Required { .. } = agent.plugs {
            let plug_free = matches!(
                self.action,
                Action::List | Action::ListStatus | Action::Monitor | Action::ValidateAll
            );
            if !plug_free && self.plugs().is_empty() {
                return Err(UsageError::NoPlug);
            }
        }
        (agent.validate)(self)
    }

    /// A text option, `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A flag: set (`1`), or absent / switched off.
    pub fn flag(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| is_true(v))
    }

    /// True when the caller gave this option (not only its default).
    pub fn given(&self, name: &str) -> bool {
        self.given.contains(&name)
    }

    /// An integer option (already type-checked).
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.values.get(name).and_then(|v| v.trim().parse().ok())
    }

    /// A seconds option (already type-checked).
    pub fn seconds(&self, name: &str) -> Option<Duration> {
        self.values.get(name).and_then(|v| seconds(v))
    }

    /// The device address: `--ip`, or the plug when `--port-as-ip` is set.
    pub fn address(&self) -> Option<&str> {
        if self.flag("port_as_ip") {
            if let Some(plug) = self.text("plug") {
                return Some(plug);
            }
        }
        self.text("ip")
    }

    /// The plugs to act on (`--plug` split at `--plug-separator`); empty when none.
    pub fn plugs(&self) -> Vec<String> {
        let Some(plug) = self.text("plug") else {
            return Vec::new();
        };
        let sep = self.text("plug_separator").unwrap_or(",");
        plug.split(sep)
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Replace a value (the resolved password from `password_script`).
    pub fn set(&mut self, name: &'static str, value: String) {
        self.values.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_stdin;
    use crate::options::*;

    const SPECS: &[OptionSpec] = &[
        ACTION,
        IP,
        IPPORT,
        PLUG,
        POWER_WAIT,
        POWER_TIMEOUT,
        METHOD,
        DISABLE_TIMEOUT,
        PLUG_SEPARATOR,
    ];

    fn params(text: &str) -> Result<Params, UsageError> {
        Params::from_raw(SPECS, &parse_stdin(SPECS, text), "reboot", false)
    }

    #[test]
    fn defaults_and_types() {
        let p = params("ip=h\npower_wait=1.5\nmethod=CYCLE\n").unwrap();
        assert_eq!(p.action, Action::Reboot);
        assert_eq!(p.method, Method::Cycle);
        assert_eq!(p.timing.power_wait, Duration::from_millis(1500));
        assert_eq!(p.timing.power_timeout, Duration::from_secs(20));
        assert!(!p.timing.disable_timeout);
    }

    #[test]
    fn bad_values_name_the_option() {
        assert_eq!(
            params("ipport=abc").unwrap_err(),
            UsageError::NotInteger("ipport".into())
        );
        assert_eq!(
            params("power_wait=-1").unwrap_err(),
            UsageError::NotSeconds("power-wait".into())
        );
        assert_eq!(
            params("power_timeout=1e20").unwrap_err(),
            UsageError::TooManySeconds("power-timeout".into())
        );
        assert!(matches!(
            params("method=sideways").unwrap_err(),
            UsageError::BadChoice { .. }
        ));
        assert_eq!(
            params("action=frob").unwrap_err(),
            UsageError::UnknownAction("frob".into())
        );
        assert_eq!(params("action=meta-data").unwrap().action, Action::Metadata);
    }

    #[test]
    fn seconds_are_numbers_from_zero_to_a_day() {
        assert_eq!(parse_seconds(" 1.5 "), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds("86400"), Ok(Duration::from_secs(86_400)));
        for bad in ["-1", "-0.5", "NaN", "nan", "-inf", "x", ""] {
            assert_eq!(parse_seconds(bad), Err(SecondsError::Invalid), "{bad}");
        }
        for big in [
            "86400.5",
            "1e20",
            "1e400",
            "inf",
            "infinity",
            "18446744073709551616",
        ] {
            assert_eq!(parse_seconds(big), Err(SecondsError::TooLarge), "{big}");
        }
    }

    #[test]
    fn pacemaker_disables_timeouts_unless_told() {
        let raw = parse_stdin(SPECS, "ip=h\n");
        assert!(
            Params::from_raw(SPECS, &raw, "reboot", true)
                .unwrap()
                .timing
                .disable_timeout
        );
        let raw = parse_stdin(SPECS, "ip=h\ndisable_timeout=false\n");
        assert!(
            !Params::from_raw(SPECS, &raw, "reboot", true)
                .unwrap()
                .timing
                .disable_timeout
        );
    }

    #[test]
    fn plugs_split_at_separator() {
        let p = params("plug=1, 2,,3").unwrap();
        assert_eq!(p.plugs(), vec!["1", "2", "3"]);
    }

    #[test]
    fn debug_hides_what_the_table_marks_secret() {
        use crate::snmp::config::{COMMUNITY, SNMP_PRIV_PASSWD, SNMP_PRIV_PASSWD_SCRIPT};
        // Secret by the table alone, whatever the name says.
        const TOKEN: OptionSpec = OptionSpec::text("opaque", "[t]", "t").secret();
        const PLAIN: OptionSpec = OptionSpec::text("password_hint", "[t]", "t");
        let specs = [
            ACTION,
            PASSWORD,
            PASSWORD_SCRIPT,
            COMMUNITY,
            SNMP_PRIV_PASSWD,
            SNMP_PRIV_PASSWD_SCRIPT,
            TOKEN,
            PLAIN,
        ];
        let raw = parse_stdin(
            &specs,
            "passwd=s1\npasswd_script=echo s2\ncommunity=s3\nsnmp_priv_passwd=s4\n\
             snmp_priv_passwd_script=echo s5\nopaque=s6\npassword_hint=visible\n",
        );
        let p = Params::from_raw(&specs, &raw, "reboot", false).unwrap();
        let dump = format!("{p:?}");
        for secret in ["s1", "s2", "s3", "s4", "s5", "s6"] {
            assert!(!dump.contains(secret), "{secret} in {dump}");
        }
        assert!(dump.contains(r#""password_hint": "visible""#), "{dump}");
        assert!(dump.contains(r#""community": "[set]""#), "{dump}");
    }
}
