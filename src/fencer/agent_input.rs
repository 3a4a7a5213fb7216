//! What may reach a fence agent's standard input, and the one place that writes it.
//!
//! An agent reads `name=value` lines and the last line for a name wins, so a newline in a
//! target, plug or parameter value adds a line of the caller's choosing (a target
//! `"node1\naction=on"` would turn an `off` into an `on`), and an `=` in a name moves the
//! split. Every name and value that can reach an agent is checked with these rules where
//! it enters (the API, the configurations, device registration) and once more here, when
//! the stdin text is written: a line that breaks them is never sent.
//!
//! - A name is 1-64 characters of ASCII letters, digits, `_`, `-` and `.`.
//! - A value (target names included) holds no control character: no NUL, CR, LF, tab,
//!   DEL or C1 character (`char::is_control`). `=` is allowed in values: the agent splits
//!   a line at its first `=`.

use std::fmt;

/// Longest accepted parameter name.
pub const MAX_NAME: usize = 64;

/// A name or value that must not reach an agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A parameter name that is empty, too long or has other characters than
    /// letters, digits, `_`, `-`, `.`.
    #[error("parameter name {name} is invalid (use 1-{MAX_NAME} letters, digits, '_', '-', '.')")]
    Name {
        /// The name, escaped.
        name: Escaped,
    },
    /// A value with a control character.
    #[error("{what} {value} contains a control character ({found}); refused")]
    Control {
        /// What the value is (`target`, `parameter port`, ...).
        what: String,
        /// The value, escaped.
        value: Escaped,
        /// The first control character, escaped.
        found: Escaped,
    },
    /// An empty target name.
    #[error("the target name is empty")]
    EmptyTarget,
}

/// Text shown with control characters escaped (`\n`, `\x00`...), quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escaped(pub String);

impl Escaped {
    /// Escape `text` for a log line or an error message.
    pub fn of(text: &str) -> Escaped {
        Escaped(
            text.chars()
                .take(200)
                .flat_map(char::escape_debug)
                .collect(),
        )
    }
}

impl fmt::Display for Escaped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.0)
    }
}

/// Check a parameter name.
pub fn check_name(name: &str) -> Result<(), InputError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(InputError::Name {
            name: Escaped::of(name),
        })
    }
}

/// Check a value; `what` names it in the error (`target`, `parameter ip`...).
pub fn check_value(what: &str, value: &str) -> Result<(), InputError> {
    match value.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(InputError::Control {
            what: what.to_string(),
            value: Escaped::of(value),
            found: Escaped::of(&c.to_string()),
        }),
    }
}

/// Check a target (node) name: not empty, no control character.
pub fn check_target(target: &str) -> Result<(), InputError> {
    if target.is_empty() {
        return Err(InputError::EmptyTarget);
    }
    check_value("target", target)
}

/// Check one `name=value` parameter.
pub fn check_param(name: &str, value: &str) -> Result<(), InputError> {
    check_name(name)?;
    check_value(&format!("parameter {name}"), value)
}

/// The stdin text for `lines` (`name=value\n` each), or the first line that breaks the
/// rules above.
pub fn stdin_text(lines: &[(String, String)]) -> Result<String, InputError> {
    let mut text = String::new();
    for (name, value) in lines {
        check_param(name, value)?;
        text.push_str(name);
        text.push('=');
        text.push_str(value);
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, value: &str) -> Vec<(String, String)> {
        vec![
            ("ip".to_string(), "127.0.0.1".to_string()),
            (name.to_string(), value.to_string()),
        ]
    }

    #[test]
    fn ordinary_lines_pass_unchanged() {
        let text = stdin_text(&[
            ("ip".into(), "10.0.0.1".into()),
            ("passwd".into(), "a=b c;d".into()),
            ("pcmk_host_list".into(), "node1 node2".into()),
            ("action".into(), "off".into()),
        ]);
        assert_eq!(
            text.as_deref(),
            Ok("ip=10.0.0.1\npasswd=a=b c;d\npcmk_host_list=node1 node2\naction=off\n")
        );
    }

    #[test]
    fn every_control_character_in_a_value_is_refused() {
        for bad in [
            "nodeX\naction=on",
            "nodeX\raction=on",
            "nodeX\0",
            "a\tb",
            "x\u{7f}",
            "x\u{85}",
        ] {
            let err = stdin_text(&line("nodename", bad)).expect_err(bad);
            assert!(
                matches!(&err, InputError::Control { what, .. } if what == "parameter nodename"),
                "{bad:?}: {err:?}"
            );
            // The message shows the value escaped, never raw.
            assert!(!err.to_string().contains('\n'), "{err}");
            assert!(!err.to_string().contains('\0'), "{err}");
        }
    }

    #[test]
    fn names_with_equals_or_odd_characters_are_refused() {
        for bad in [
            "action=on",
            "",
            "a b",
            "x\n",
            "port\0",
            "ä",
            &"n".repeat(65),
        ] {
            assert!(
                matches!(stdin_text(&line(bad, "1")), Err(InputError::Name { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(check_name("pcmk_host_list"), Ok(()));
        assert_eq!(check_name("ssl-insecure"), Ok(()));
    }

    #[test]
    fn targets() {
        assert_eq!(check_target("node1.example.com"), Ok(()));
        assert_eq!(check_target(""), Err(InputError::EmptyTarget));
        assert!(check_target("nodeX\naction=on").is_err());
        assert!(check_target("n\r").is_err());
        assert!(check_target("n\0").is_err());
    }
}
