//! A small command-line parser: positional words, `--name value` / `--name=value`
//! options, boolean flags and repeatable `-o key=value` parameters; anything unknown is
//! a usage error naming it.

use std::collections::BTreeMap;

/// A command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// An option this command does not have.
    #[error("unknown option {0}")]
    Unknown(String),
    /// An option without its value.
    #[error("option {0} needs a value")]
    MissingValue(String),
    /// A `-o` parameter without `=`.
    #[error("parameter '{0}' must be key=value")]
    Param(String),
    /// Wrong number of positional arguments, or another problem.
    #[error("{0}")]
    Other(String),
}

/// The options a command accepts: (long name, takes a value).
pub type Spec = &'static [(&'static str, bool)];

/// A parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// Positional words.
    pub positional: Vec<String>,
    /// `--name value` options (last one wins).
    pub options: BTreeMap<String, String>,
    /// `--flag` options.
    pub flags: Vec<String>,
    /// `-o key=value` / `--param key=value`, in order.
    pub params: Vec<(String, String)>,
}

impl Args {
    /// Parse `words` against `spec` (`--json` and `--socket` are always accepted).
    pub fn parse(words: &[String], spec: Spec) -> Result<Args, UsageError> {
        let mut args = Args::default();
        let takes = |name: &str| -> Option<bool> {
            match name {
                "json" => Some(false),
                "socket" => Some(true),
                _ => spec.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
            }
        };
        let mut i = 0;
        while i < words.len() {
            let word = &words[i];
            i += 1;
            if word == "-o" || word == "--param" {
                let value = words
                    .get(i)
                    .ok_or_else(|| UsageError::MissingValue(word.clone()))?;
                i += 1;
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| UsageError::Param(value.clone()))?;
                args.params.push((k.trim().to_string(), v.to_string()));
                continue;
            }
            let Some(long) = word.strip_prefix("--") else {
                if word.starts_with('-') && word.len() > 1 {
                    return Err(UsageError::Unknown(word.clone()));
                }
                args.positional.push(word.clone());
                continue;
            };
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match (takes(name), inline) {
                (None, _) => return Err(UsageError::Unknown(word.clone())),
                (Some(false), Some(_)) => {
                    return Err(UsageError::Other(format!("option --{name} takes no value")))
                }
                (Some(false), None) => args.flags.push(name.to_string()),
                (Some(true), Some(v)) => {
                    args.options.insert(name.to_string(), v);
                }
                (Some(true), None) => {
                    let v = words
                        .get(i)
                        .ok_or_else(|| UsageError::MissingValue(word.clone()))?;
                    i += 1;
                    args.options.insert(name.to_string(), v.clone());
                }
            }
        }
        Ok(args)
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// The value of `--name`.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    /// Exactly one positional argument, described as `what` in errors.
    pub fn one(&self, what: &str) -> Result<&str, UsageError> {
        match self.positional.as_slice() {
            [one] => Ok(one),
            [] => Err(UsageError::Other(format!("missing {what}"))),
            more => Err(UsageError::Other(format!(
                "expected one {what}, got {}",
                more.len()
            ))),
        }
    }

    /// No positional argument allowed.
    pub fn none(&self) -> Result<(), UsageError> {
        match self.positional.first() {
            None => Ok(()),
            Some(extra) => Err(UsageError::Other(format!("unexpected argument '{extra}'"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options_flags_params() {
        let spec: Spec = &[("action", true), ("verbose", false), ("agent", true)];
        let args = Args::parse(
            &words(&[
                "node1",
                "--action",
                "off",
                "--verbose",
                "--agent=fence_x",
                "-o",
                "ip=1.2.3.4",
                "--param",
                "x=a=b",
                "--json",
                "--socket",
                "/s",
            ]),
            spec,
        )
        .expect("valid");
        assert_eq!(args.one("target"), Ok("node1"));
        assert_eq!(args.option("action"), Some("off"));
        assert_eq!(args.option("agent"), Some("fence_x"));
        assert_eq!(args.option("socket"), Some("/s"));
        assert!(args.flag("verbose") && args.flag("json"));
        assert_eq!(
            args.params,
            [
                ("ip".to_string(), "1.2.3.4".to_string()),
                ("x".into(), "a=b".into())
            ]
        );
    }

    #[test]
    fn usage_errors() {
        let spec: Spec = &[("action", true), ("verbose", false)];
        let cases: &[(&[&str], &str)] = &[
            (&["--bogus"], "unknown option --bogus"),
            (&["-x"], "unknown option -x"),
            (&["--action"], "needs a value"),
            (&["-o", "novalue"], "key=value"),
            (&["--verbose=1"], "takes no value"),
        ];
        for (line, needle) in cases {
            let err = Args::parse(&words(line), spec).expect_err("usage error");
            assert!(err.to_string().contains(needle), "{line:?}: {err}");
        }
        let args = Args::parse(&words(&["a", "b"]), spec).expect("valid");
        assert!(args.one("target").is_err());
        assert!(args.none().is_err());
    }
}
