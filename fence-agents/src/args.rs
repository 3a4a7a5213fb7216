//! Reading options the two ClusterLabs ways: GNU-style argv (`-a host`, `--ip=host`,
//! `-vvv`), or — when argv is empty, as pacemaker-fenced calls agents — `name=value`
//! lines on stdin. The result is raw text per option name; types and defaults are
//! `params`' job.
//!
//! Stdin rules (ClusterLabs `fencing.py`, checked by running it): blank and `#` lines
//! skipped, whitespace trimmed, one pair of surrounding double quotes removed, names may
//! be the metadata name, the deprecated alias or the long spelling with `-` or `_`,
//! unknown names only warn, `nodename` and `port` are ignored unless declared.

use std::ffi::OsString;

use crate::options::{Kind, OptionSpec};

/// Where the options came from; a few rules differ (e.g. `-n` needs `--port-as-ip` in argv).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Argv,
    Stdin,
}

/// Options as given, before typing: `(name, value)` in order, later ones win. Flags carry
/// `"1"` when set and `"0"` when switched off on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOptions {
    pub source: Source,
    pub values: Vec<(&'static str, String)>,
    /// Number of `-v` on the command line (or 1 for `verbose=1` on stdin).
    pub verbose: u32,
    /// Things ignored on the way, to be logged as warnings.
    pub warnings: Vec<String>,
}

impl RawOptions {
    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn push(&mut self, spec: &OptionSpec, value: String) {
        if spec.name == "verbose" && value == "1" {
            self.verbose += 1;
        }
        self.values.push((spec.name, value));
    }
}

/// Why the command line or stdin could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    /// An option the agent does not have.
    #[error("Parse error: option {0} not recognized")]
    Unknown(String),
    /// A value-taking option at the end of argv.
    #[error("Parse error: option {0} requires argument")]
    MissingValue(String),
    /// `--flag=value`.
    #[error("Parse error: option {0} must not have an argument")]
    UnexpectedValue(String),
    /// An argument that is not UTF-8 (shown with the bad bytes replaced).
    #[error("Parse error: argument '{0}' is not valid UTF-8")]
    NotUtf8(String),
    /// Stdin could not be read.
    #[error("Parse error: cannot read options from stdin: {0}")]
    Stdin(String),
}

/// argv (without the program name) as text. Option names and values are UTF-8 text;
/// an argument that is not is refused, named with its bad bytes replaced by U+FFFD —
/// except the value of a secret option, which is never shown.
pub fn utf8_args(specs: &[OptionSpec], args: &[OsString]) -> Result<Vec<String>, ArgsError> {
    let mut out: Vec<String> = Vec::with_capacity(args.len());
    for arg in args {
        match arg.to_str() {
            Some(text) => out.push(text.to_string()),
            None => {
                let lossy = arg.to_string_lossy();
                let previous = out.last().map(String::as_str);
                return Err(ArgsError::NotUtf8(shown_argument(specs, &lossy, previous)));
            }
        }
    }
    Ok(out)
}

/// The option of `arg` that takes the next argument as its value (`--password`,
/// `-vp`), if any.
fn waiting_for_value<'a>(specs: &'a [OptionSpec], arg: &str) -> Option<&'a OptionSpec> {
    if let Some(long) = arg.strip_prefix("--") {
        return specs
            .iter()
            .find(|s| s.long_name() == long && s.kind.takes_value());
    }
    let letters = arg.strip_prefix('-')?;
    let mut rest = letters.chars();
    while let Some(c) = rest.next() {
        let spec = specs.iter().find(|s| s.short == Some(c))?;
        if spec.kind.takes_value() {
            return rest.as_str().is_empty().then_some(spec);
        }
    }
    None
}

/// An argument as an error message may show it: as given, but with the value of a secret
/// option (inline, attached to its letter, or the argument after it) replaced.
fn shown_argument(specs: &[OptionSpec], arg: &str, previous: Option<&str>) -> String {
    const HIDDEN: &str = "[hidden]";
    if previous
        .and_then(|p| waiting_for_value(specs, p))
        .is_some_and(|s| s.secret)
    {
        return HIDDEN.to_string();
    }
    if let Some(long) = arg.strip_prefix("--") {
        if let Some((name, _)) = long.split_once('=') {
            if specs.iter().any(|s| s.secret && s.long_name() == name) {
                return format!("--{name}={HIDDEN}");
            }
        }
        return arg.to_string();
    }
    if let Some(letters) = arg.strip_prefix('-') {
        for (i, c) in letters.char_indices() {
            let Some(spec) = specs.iter().find(|s| s.short == Some(c)) else {
                break;
            };
            if spec.kind.takes_value() {
                if spec.secret {
                    let end = i + c.len_utf8();
                    return format!("-{}{HIDDEN}", &letters[..end]);
                }
                break;
            }
        }
    }
    arg.to_string()
}

/// Parse argv (without the program name).
pub fn parse_argv(specs: &[OptionSpec], args: &[String]) -> Result<RawOptions, ArgsError> {
    let mut raw = RawOptions {
        source: Source::Argv,
        values: Vec::new(),
        verbose: 0,
        warnings: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            for rest in &args[i..] {
                raw.warnings.push(format!("Unused argument: {rest}"));
            }
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = specs
                .iter()
                .find(|s| s.long_name() == name)
                .ok_or_else(|| ArgsError::Unknown(format!("--{name}")))?;
            if spec.kind.takes_value() {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        let v = args
                            .get(i)
                            .ok_or_else(|| ArgsError::MissingValue(format!("--{name}")))?;
                        i += 1;
                        v.clone()
                    }
                };
                raw.push(spec, value);
            } else if inline.is_some() {
                return Err(ArgsError::UnexpectedValue(format!("--{name}")));
            } else {
                raw.push(spec, "1".into());
            }
        } else if arg.len() > 1 && arg.starts_with('-') {
            let letters: Vec<char> = arg[1..].chars().collect();
            let mut j = 0;
            while j < letters.len() {
                let c = letters[j];
                j += 1;
                let spec = specs
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| ArgsError::Unknown(format!("-{c}")))?;
                if spec.kind.takes_value() {
                    let attached: String = letters[j..].iter().collect();
                    let value = if !attached.is_empty() {
                        attached
                    } else {
                        let v = args
                            .get(i)
                            .ok_or_else(|| ArgsError::MissingValue(format!("-{c}")))?;
                        i += 1;
                        v.clone()
                    };
                    raw.push(spec, value);
                    break;
                }
                raw.push(spec, "1".into());
            }
        } else {
            raw.warnings.push(format!("Unused argument: {arg}"));
        }
    }
    Ok(raw)
}

/// Parse `name=value` lines read from stdin.
pub fn parse_stdin(specs: &[OptionSpec], text: &str) -> RawOptions {
    let mut raw = RawOptions {
        source: Source::Stdin,
        values: Vec::new(),
        verbose: 0,
        warnings: Vec::new(),
    };
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Named by its number, not its text, which may be a credential.
        let Some((name, value)) = line.split_once('=') else {
            raw.warnings.push(format!(
                "Parse error: Ignoring line {} without '='",
                number + 1
            ));
            continue;
        };
        let name = name.trim();
        let mut value = value.trim();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        }
        let Some(spec) = specs.iter().find(|s| s.answers_to(name)) else {
            // pacemaker sends both for every fencing action; agents without plugs
            // have no use for them, which is not worth a warning each time.
            // Only the name: the value of a misspelt option may well be a password.
            if name != "nodename" && name != "port" {
                raw.warnings
                    .push(format!("Parse error: Ignoring unknown option '{name}'"));
            }
            continue;
        };
        if spec.kind == Kind::Flag {
            match value.to_ascii_lowercase().as_str() {
                "1" | "yes" | "on" | "true" => raw.push(spec, "1".into()),
                "0" | "no" | "off" | "false" => raw.push(spec, "0".into()),
                _ => raw.warnings.push(format!(
                    "Ignoring option '{name}' because it does not have value"
                )),
            }
        } else {
            raw.push(spec, value.to_string());
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::*;

    const SPECS: &[OptionSpec] = &[ACTION, IP, IPPORT, USERNAME, PASSWORD, VERBOSE, POWER_WAIT];

    fn argv(words: &[&str]) -> Result<RawOptions, ArgsError> {
        let args: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        parse_argv(SPECS, &args)
    }

    #[test]
    fn long_short_attached_and_separate_values() {
        let raw = argv(&[
            "-a",
            "h1",
            "--ipport=99",
            "-lroot",
            "--password",
            "x",
            "-vvv",
        ])
        .unwrap();
        assert_eq!(raw.get("ip"), Some("h1"));
        assert_eq!(raw.get("ipport"), Some("99"));
        assert_eq!(raw.get("username"), Some("root"));
        assert_eq!(raw.get("password"), Some("x"));
        assert_eq!(raw.verbose, 3);
    }

    #[test]
    fn argv_errors_name_the_option() {
        assert_eq!(
            argv(&["--bogus"]),
            Err(ArgsError::Unknown("--bogus".into()))
        );
        assert_eq!(argv(&["-Z"]), Err(ArgsError::Unknown("-Z".into())));
        assert_eq!(argv(&["--ip"]), Err(ArgsError::MissingValue("--ip".into())));
        assert_eq!(
            argv(&["--verbose=2"]),
            Err(ArgsError::UnexpectedValue("--verbose".into()))
        );
    }

    #[test]
    fn non_utf8_arguments_are_named_lossily_but_never_a_secret() {
        use std::os::unix::ffi::OsStringExt;
        let os = |words: &[&[u8]]| -> Vec<OsString> {
            words
                .iter()
                .map(|w| OsString::from_vec(w.to_vec()))
                .collect()
        };
        let good = os(&[b"-o", b"status"]);
        assert_eq!(
            utf8_args(SPECS, &good),
            Ok(vec!["-o".into(), "status".into()])
        );
        let refused = |words: &[&[u8]]| match utf8_args(SPECS, &os(words)) {
            Err(ArgsError::NotUtf8(shown)) => shown,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(&[b"-o", b"--ip=h\xffx"]), "--ip=h\u{fffd}x");
        assert_eq!(refused(&[b"-a", b"h\xff"]), "h\u{fffd}");
        assert_eq!(refused(&[b"--password=pw\xff"]), "--password=[hidden]");
        assert_eq!(refused(&[b"--password", b"pw\xff"]), "[hidden]");
        assert_eq!(refused(&[b"-vp", b"pw\xff"]), "[hidden]");
        assert_eq!(refused(&[b"-vppw\xff"]), "-vp[hidden]");
        assert_eq!(refused(&[b"-ppw\xff"]), "-p[hidden]");
    }

    #[test]
    fn stdin_aliases_quotes_comments_and_unknowns() {
        let raw = parse_stdin(
            SPECS,
            "# c\n\n ipaddr = \"10.0.0.1\" \nlogin=admin\npower-wait=3\nnodename=n1\nbogus=1\nverbose=1\njunk\n",
        );
        assert_eq!(raw.get("ip"), Some("10.0.0.1"));
        assert_eq!(raw.get("username"), Some("admin"));
        assert_eq!(raw.get("power_wait"), Some("3"));
        assert_eq!(raw.verbose, 1);
        assert_eq!(raw.warnings.len(), 2, "{:?}", raw.warnings);
        assert_eq!(
            raw.warnings[0],
            "Parse error: Ignoring unknown option 'bogus'"
        );
        assert_eq!(raw.warnings[1], "Parse error: Ignoring line 9 without '='");
    }

    #[test]
    fn stdin_boolean_words() {
        let raw = parse_stdin(SPECS, "verbose=no\n");
        assert_eq!(raw.get("verbose"), Some("0"));
        let raw = parse_stdin(SPECS, "verbose=maybe\n");
        assert_eq!(raw.get("verbose"), None);
        assert_eq!(raw.warnings.len(), 1);
    }
}
