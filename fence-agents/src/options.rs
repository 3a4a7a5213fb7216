//! The option table: what an option is called (metadata name, deprecated alias, long and
//! short spelling), what it holds, its default and its place in the metadata. Agents
//! list the [`OptionSpec`]s they accept; the common ones ClusterLabs gives every agent
//! are constants here, with the same names, aliases, defaults and order.
//!
//! Nothing here parses or prints; see `args` (argv/stdin → values), `metadata` (XML and
//! `--help`) and `params` (typed access).

/// What an option holds, as metadata `<content type=...>` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A flag without value (`--lanplus`, `lanplus=1`).
    Flag,
    /// Free text.
    Text,
    /// A whole number.
    Integer,
    /// A time in seconds (fractions allowed).
    Seconds,
    /// One of a fixed list, compared case-insensitively.
    Select(&'static [&'static str]),
}

impl Kind {
    /// True when the option takes a value on the command line.
    pub fn takes_value(self) -> bool {
        !matches!(self, Kind::Flag)
    }

    /// The `<content type>` word of the metadata.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Flag => "boolean",
            Kind::Text => "string",
            Kind::Integer => "integer",
            Kind::Seconds => "second",
            Kind::Select(_) => "select",
        }
    }
}

/// One option an agent accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// Metadata and stdin name (`power_wait`); the long option is this with `-` for `_`
    /// unless [`OptionSpec::long`] says otherwise.
    pub name: &'static str,
    /// Long option spelling without dashes, when it is not `name` with dashes
    /// (`username`'s is `username`, `ip`'s is `ip`, `use_sudo`'s is `use-sudo`).
    pub long: Option<&'static str>,
    /// Short option letter.
    pub short: Option<char>,
    /// The deprecated name still accepted on stdin and listed with `deprecated="1"`.
    pub alias: Option<&'static str>,
    /// What it holds.
    pub kind: Kind,
    /// Default value as text, if any.
    pub default: Option<&'static str>,
    /// The value placeholder shown in `--help` and `<getopt mixed>` (`[seconds]`).
    pub metavar: Option<&'static str>,
    /// One-line description (metadata shortdesc and `--help`).
    pub help: &'static str,
    /// `required="1"` in metadata (only `action` among the common options).
    pub required: bool,
    /// Sort key of the metadata (1 device options, 50s logging, 100 separators, 200+ timing).
    pub order: u16,
    /// The value is a credential (password, community, key, or a script printing one):
    /// never shown in logs, debug files or messages.
    pub secret: bool,
}

impl OptionSpec {
    /// A device option (order 1) with a value.
    pub const fn text(name: &'static str, metavar: &'static str, help: &'static str) -> Self {
        OptionSpec {
            name,
            long: None,
            short: None,
            alias: None,
            kind: Kind::Text,
            default: None,
            metavar: Some(metavar),
            help,
            required: false,
            order: 1,
            secret: false,
        }
    }

    /// A device flag (order 1).
    pub const fn flag(name: &'static str, help: &'static str) -> Self {
        OptionSpec {
            kind: Kind::Flag,
            metavar: None,
            ..OptionSpec::text(name, "", help)
        }
    }

    pub const fn short(self, c: char) -> Self {
        OptionSpec {
            short: Some(c),
            ..self
        }
    }

    pub const fn kind(self, kind: Kind) -> Self {
        OptionSpec { kind, ..self }
    }

    pub const fn default(self, value: &'static str) -> Self {
        OptionSpec {
            default: Some(value),
            ..self
        }
    }

    pub const fn alias(self, old: &'static str) -> Self {
        OptionSpec {
            alias: Some(old),
            ..self
        }
    }

    pub const fn long(self, long: &'static str) -> Self {
        OptionSpec {
            long: Some(long),
            ..self
        }
    }

    pub const fn order(self, order: u16) -> Self {
        OptionSpec { order, ..self }
    }

    /// Mark the value as a credential (see [`OptionSpec::secret`]).
    pub const fn secret(self) -> Self {
        OptionSpec {
            secret: true,
            ..self
        }
    }

    /// The long option without its dashes.
    pub fn long_name(&self) -> String {
        match self.long {
            Some(long) => long.to_string(),
            None => self.name.replace('_', "-"),
        }
    }

    /// `-a, --ip=[ip]` as `--help` and `<getopt mixed>` show it.
    pub fn mixed(&self) -> String {
        let mut s = String::new();
        if let Some(c) = self.short {
            s.push('-');
            s.push(c);
            s.push_str(", ");
        }
        s.push_str("--");
        s.push_str(&self.long_name());
        if let Some(m) = self.metavar {
            s.push('=');
            s.push_str(m);
        }
        s
    }

    /// True when `word` (stdin key, `-`/`_` interchangeable) names this option.
    pub fn answers_to(&self, word: &str) -> bool {
        let word = word.replace('-', "_");
        word == self.name
            || self.alias == Some(word.as_str())
            || self.long_name().replace('-', "_") == word
    }
}

/// Shorthand for a timing option (order 200, type second).
const fn seconds(name: &'static str, default: &'static str, help: &'static str) -> OptionSpec {
    OptionSpec::text(name, "[seconds]", help)
        .kind(Kind::Seconds)
        .default(default)
        .order(200)
}

pub const ACTION: OptionSpec = OptionSpec {
    required: true,
    ..OptionSpec::text("action", "[action]", "Fencing action")
        .short('o')
        .default("reboot")
};
pub const IP: OptionSpec =
    OptionSpec::text("ip", "[ip]", "IP address or hostname of fencing device")
        .short('a')
        .alias("ipaddr");
pub const IPPORT: OptionSpec = OptionSpec::text(
    "ipport",
    "[port]",
    "TCP/UDP port to use for connection with device",
)
.short('u')
.kind(Kind::Integer);
pub const USERNAME: OptionSpec = OptionSpec::text("username", "[name]", "Login name")
    .short('l')
    .alias("login");
pub const PASSWORD: OptionSpec =
    OptionSpec::text("password", "[password]", "Login password or passphrase")
        .short('p')
        .alias("passwd")
        .secret();
pub const PASSWORD_SCRIPT: OptionSpec = OptionSpec::text(
    "password_script",
    "[script]",
    "Script to run to retrieve password",
)
.short('S')
.alias("passwd_script")
.secret();
pub const PLUG: OptionSpec = OptionSpec::text(
    "plug",
    "[id]",
    "Physical plug number on device, UUID or identification of machine",
)
.short('n')
.alias("port");
pub const SSL: OptionSpec = OptionSpec::flag("ssl", "Use SSL connection").short('z');
pub const SSL_SECURE: OptionSpec = OptionSpec::flag(
    "ssl_secure",
    "Use SSL connection with verifying certificate",
);
pub const SSL_INSECURE: OptionSpec = OptionSpec::flag(
    "ssl_insecure",
    "Use SSL connection without verifying certificate",
);
pub const METHOD: OptionSpec = OptionSpec::text("method", "[method]", "Method to fence")
    .short('m')
    .kind(Kind::Select(&["onoff", "cycle"]))
    .default("onoff");

pub const QUIET: OptionSpec = OptionSpec::flag(
    "quiet",
    "Disable logging to stderr. Does not affect --verbose or --debug-file or logging to syslog.",
)
.short('q')
.order(50);
pub const VERBOSE: OptionSpec = OptionSpec::flag(
    "verbose",
    "Verbose mode. Multiple -v flags can be stacked on the command line (e.g., -vvv) to increase verbosity.",
)
.short('v')
.order(51);
pub const VERBOSE_LEVEL: OptionSpec = OptionSpec {
    metavar: None,
    ..OptionSpec::text(
        "verbose_level",
        "",
        "Level of debugging detail in output. Defaults to the number of --verbose flags specified on the command line, or to 1 if verbose=1 in a stonith device configuration (i.e., on stdin).",
    )
    .kind(Kind::Integer)
    .order(52)
};
pub const DEBUG_FILE: OptionSpec = OptionSpec::text(
    "debug_file",
    "[debugfile]",
    "Write debug information to given file",
)
.short('D')
.alias("debug")
.order(53);
pub const VERSION: OptionSpec = OptionSpec::flag("version", "Display version information and exit")
    .short('V')
    .order(54);
pub const HELP: OptionSpec = OptionSpec::flag("help", "Display help and exit")
    .short('h')
    .order(55);
pub const PLUG_SEPARATOR: OptionSpec = OptionSpec::text(
    "plug_separator",
    "[char]",
    "Separator for plug parameter when specifying more than 1 plug",
)
.default(",")
.order(100);
pub const SEPARATOR: OptionSpec = OptionSpec::text(
    "separator",
    "[char]",
    "Separator for CSV created by 'list' operation",
)
.short('C')
.default(",")
.order(100);
pub const DELAY: OptionSpec = seconds("delay", "0", "Wait X seconds before fencing is started");
pub const DISABLE_TIMEOUT: OptionSpec = OptionSpec::text(
    "disable_timeout",
    "[true/false]",
    "Disable timeout (true/false) (default: true when run from Pacemaker 2.0+)",
)
.order(200);
pub const LOGIN_TIMEOUT: OptionSpec = seconds(
    "login_timeout",
    "5",
    "Wait X seconds for cmd prompt after login",
);
pub const PORT_AS_IP: OptionSpec = OptionSpec::flag(
    "port_as_ip",
    "Make \"port/plug\" to be an alias to IP address",
)
.order(200);
pub const POWER_TIMEOUT: OptionSpec = seconds(
    "power_timeout",
    "20",
    "Test X seconds for status change after ON/OFF",
);
pub const POWER_WAIT: OptionSpec =
    seconds("power_wait", "0", "Wait X seconds after issuing ON/OFF");
pub const SHELL_TIMEOUT: OptionSpec = seconds(
    "shell_timeout",
    "3",
    "Wait X seconds for cmd prompt after issuing command",
);
pub const STONITH_STATUS_SLEEP: OptionSpec = seconds(
    "stonith_status_sleep",
    "1",
    "Sleep X seconds between status calls during a STONITH action",
);
pub const RETRY_ON: OptionSpec = OptionSpec::text(
    "retry_on",
    "[attempts]",
    "Count of attempts to retry power on",
)
.kind(Kind::Integer)
.default("1")
.order(202);
pub const USE_SUDO: OptionSpec = OptionSpec::flag(
    "use_sudo",
    "Use sudo (without password) when calling 3rd party software",
)
.alias("sudo")
.order(205);
pub const SUDO_PATH: OptionSpec = OptionSpec::text("sudo_path", "[path]", "Path to sudo binary")
    .default("/usr/bin/sudo")
    .order(210);

/// Options every agent has: logging, version/help, timing and the action itself.
pub const UNIVERSAL: &[OptionSpec] = &[
    ACTION,
    QUIET,
    VERBOSE,
    VERBOSE_LEVEL,
    DEBUG_FILE,
    VERSION,
    HELP,
    DELAY,
    DISABLE_TIMEOUT,
    LOGIN_TIMEOUT,
    POWER_TIMEOUT,
    POWER_WAIT,
    SHELL_TIMEOUT,
    STONITH_STATUS_SLEEP,
    RETRY_ON,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_is_short_long_and_metavar() {
        assert_eq!(IP.mixed(), "-a, --ip=[ip]");
        assert_eq!(VERBOSE_LEVEL.mixed(), "--verbose-level");
        assert_eq!(USE_SUDO.mixed(), "--use-sudo");
        assert_eq!(DELAY.mixed(), "--delay=[seconds]");
    }

    #[test]
    fn stdin_names_accept_alias_long_and_either_dash() {
        assert!(IP.answers_to("ipaddr"));
        assert!(IP.answers_to("ip"));
        assert!(POWER_WAIT.answers_to("power-wait"));
        assert!(PASSWORD_SCRIPT.answers_to("passwd_script"));
        assert!(PASSWORD_SCRIPT.answers_to("password-script"));
        assert!(!IP.answers_to("ipport"));
    }
}
