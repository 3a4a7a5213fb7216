//! `--ssh-options`: the text ClusterLabs appends to its `ssh` command line, read the way
//! OpenSSH's `ssh` reads it (shell words, then its option letters and `-o Key=Value`),
//! and turned into settings for the built-in libssh2 client. Pure logic.
//!
//! What maps (first value wins, as in ssh): `-4`, `-6`, `-i FILE`, `-C`, `-c CIPHERS`,
//! `-m MACS`, and `-o` keys StrictHostKeyChecking (yes/ask = strict, accept-new, no/off),
//! UserKnownHostsFile, GlobalKnownHostsFile, HashKnownHosts, ConnectTimeout,
//! IdentityFile, PubkeyAuthentication, PasswordAuthentication,
//! KbdInteractiveAuthentication (ChallengeResponseAuthentication), Compression,
//! AddressFamily, Ciphers, MACs, KexAlgorithms, HostKeyAlgorithms.
//!
//! What is accepted without effect (listed in [`SshOptions::ignored`]): tty and
//! forwarding flags (`-t`, `-T`, `-x`, `-X`, `-A`, `-a`, `-n`, `-N`, `-q`, `-v`, `-g`,
//! `-k`, `-y`...), `-p`/`-l` and `-o Port`/`-o User` (the agent's own `--ipport` and
//! `--username` come first on ClusterLabs' command line, so theirs win there too),
//! `-F` (no ssh_config is read), forwardings (`-L`, `-R`, `-D`), other `-o` keys, and
//! the remote command (fence_virsh's default `-t '/bin/bash -c "PS1=..."'` starts an
//! interactive shell; palisade runs each command on its own exec channel instead).
//!
//! Refused, because the connection could not go where the user means: `-J`,
//! `-o ProxyJump`, `-o ProxyCommand`, `-W`.

use std::time::Duration;

/// How unknown and changed host keys are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only keys already in a known_hosts file (`StrictHostKeyChecking yes`, the default).
    Strict,
    /// Record unknown hosts' keys and go on; a changed key still fails.
    AcceptNew,
    /// Accept any key (`StrictHostKeyChecking no`): no protection against a MITM.
    Off,
}

/// Which address family to connect over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFamily {
    Any,
    Inet,
    Inet6,
}

/// Settings read from `--ssh-options`; `None` = not given there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshOptions {
    pub host_keys: Option<HostKeyPolicy>,
    /// `UserKnownHostsFile` paths as written (`~` not expanded; `none` = empty list).
    pub user_known_hosts: Option<Vec<String>>,
    pub global_known_hosts: Option<Vec<String>>,
    pub hash_known_hosts: Option<bool>,
    pub connect_timeout: Option<Duration>,
    pub identity_files: Vec<String>,
    pub family: Option<AddressFamily>,
    pub compression: Option<bool>,
    pub pubkey_auth: Option<bool>,
    pub password_auth: Option<bool>,
    pub kbdint_auth: Option<bool>,
    /// Algorithm lists in OpenSSH syntax (`a,b`, `+a`, `-a`, `^a`).
    pub ciphers: Option<String>,
    pub macs: Option<String>,
    pub kex: Option<String>,
    pub host_key_algorithms: Option<String>,
    /// What was accepted but has no effect on the built-in client.
    pub ignored: Vec<String>,
}

/// Why `--ssh-options` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshOptionsError {
    /// A quote is not closed.
    #[error("--ssh-options: unterminated quote in {0:?}")]
    Quote(String),
    /// An option that needs a value ends the text.
    #[error("--ssh-options: option {0} needs a value")]
    MissingValue(String),
    /// A value the option does not take.
    #[error("--ssh-options: {option} does not take the value {value:?}")]
    BadValue { option: String, value: String },
    /// An option palisade's SSH client cannot honour.
    #[error("--ssh-options: {0} is not supported by palisade's built-in SSH client")]
    Unsupported(String),
}

/// Split text into words as a POSIX shell would (quotes and backslashes; no expansion).
pub fn split_words(text: &str) -> Result<Vec<String>, SshOptionsError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SshOptionsError::Quote(text.to_string())),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SshOptionsError::Quote(text.to_string())),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SshOptionsError::Quote(text.to_string())),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => word.push('\\'),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// ssh's option letters without a value.
const FLAGS: &str = "12346AaCfGgKkMNnqsTtVvXxYy";
/// ssh's option letters that take a value.
const WITH_VALUE: &str = "BbcDEeFIiJLlmOopQRSWw";

/// Read `--ssh-options` text.
pub fn parse(text: &str) -> Result<SshOptions, SshOptionsError> {
    let words = split_words(text)?;
    let mut o = SshOptions::default();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        let Some(letters) = word.strip_prefix('-').filter(|l| !l.is_empty()) else {
            // The first word that is not an option starts the remote command.
            o.ignored
                .push(format!("remote command {:?}", words[i - 1..].join(" ")));
            break;
        };
        if letters == "-" {
            continue;
        }
        for (at, c) in letters.char_indices() {
            if FLAGS.contains(c) {
                flag(&mut o, c);
                continue;
            }
            if !WITH_VALUE.contains(c) {
                o.ignored.push(format!("-{c}"));
                continue;
            }
            let attached = &letters[at + c.len_utf8()..];
            let value = if attached.is_empty() {
                let v = words
                    .get(i)
                    .ok_or_else(|| SshOptionsError::MissingValue(format!("-{c}")))?;
                i += 1;
                v.clone()
            } else {
                attached.to_string()
            };
            with_value(&mut o, c, &value)?;
            break;
        }
    }
    Ok(o)
}

fn flag(o: &mut SshOptions, c: char) {
    match c {
        '4' => set(&mut o.family, AddressFamily::Inet),
        '6' => set(&mut o.family, AddressFamily::Inet6),
        'C' => set(&mut o.compression, true),
        other => o.ignored.push(format!("-{other}")),
    }
}

fn with_value(o: &mut SshOptions, c: char, value: &str) -> Result<(), SshOptionsError> {
    match c {
        'i' => o.identity_files.push(value.to_string()),
        'c' => set(&mut o.ciphers, value.to_string()),
        'm' => set(&mut o.macs, value.to_string()),
        'o' => config_option(o, value)?,
        'J' | 'W' => return Err(SshOptionsError::Unsupported(format!("-{c}"))),
        other => o.ignored.push(format!("-{other} {value}")),
    }
    Ok(())
}

/// Keep the first value given, as ssh does.
fn set<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn yes_no(option: &str, value: &str) -> Result<bool, SshOptionsError> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(SshOptionsError::BadValue {
            option: option.to_string(),
            value: value.to_string(),
        }),
    }
}

fn paths(value: &str) -> Vec<String> {
    value
        .split_whitespace()
        .filter(|p| !p.eq_ignore_ascii_case("none"))
        .map(str::to_string)
        .collect()
}

/// One `-o Key=Value` (or `-o "Key Value"`).
fn config_option(o: &mut SshOptions, text: &str) -> Result<(), SshOptionsError> {
    let text = text.trim();
    let split = text
        .find(|c: char| c == '=' || c.is_whitespace())
        .ok_or_else(|| SshOptionsError::MissingValue(format!("-o {text}")))?;
    let key = &text[..split];
    let value = text[split..]
        .trim_start_matches(|c: char| c == '=' || c.is_whitespace())
        .trim();
    if value.is_empty() {
        return Err(SshOptionsError::MissingValue(format!("-o {key}")));
    }
    let bad = || SshOptionsError::BadValue {
        option: key.to_string(),
        value: value.to_string(),
    };
    match key.to_ascii_lowercase().as_str() {
        "stricthostkeychecking" => {
            let policy = match value.to_ascii_lowercase().as_str() {
                "yes" | "ask" | "true" => HostKeyPolicy::Strict,
                "accept-new" => HostKeyPolicy::AcceptNew,
                "no" | "off" | "false" => HostKeyPolicy::Off,
                _ => return Err(bad()),
            };
            set(&mut o.host_keys, policy);
        }
        "userknownhostsfile" => set(&mut o.user_known_hosts, paths(value)),
        "globalknownhostsfile" => set(&mut o.global_known_hosts, paths(value)),
        "hashknownhosts" => set(&mut o.hash_known_hosts, yes_no(key, value)?),
        "connecttimeout" => {
            let secs: u64 = value.parse().map_err(|_| bad())?;
            set(&mut o.connect_timeout, Duration::from_secs(secs));
        }
        "identityfile" => o.identity_files.push(value.to_string()),
        "pubkeyauthentication" => set(&mut o.pubkey_auth, yes_no(key, value)?),
        "passwordauthentication" => set(&mut o.password_auth, yes_no(key, value)?),
        "kbdinteractiveauthentication" | "challengeresponseauthentication" => {
            set(&mut o.kbdint_auth, yes_no(key, value)?)
        }
        "compression" => set(&mut o.compression, yes_no(key, value)?),
        "addressfamily" => {
            let family = match value.to_ascii_lowercase().as_str() {
                "any" => AddressFamily::Any,
                "inet" => AddressFamily::Inet,
                "inet6" => AddressFamily::Inet6,
                _ => return Err(bad()),
            };
            set(&mut o.family, family);
        }
        "ciphers" => set(&mut o.ciphers, value.to_string()),
        "macs" => set(&mut o.macs, value.to_string()),
        "kexalgorithms" => set(&mut o.kex, value.to_string()),
        "hostkeyalgorithms" => set(&mut o.host_key_algorithms, value.to_string()),
        "proxyjump" | "proxycommand" => return Err(SshOptionsError::Unsupported(key.into())),
        _ => o.ignored.push(format!("-o {key}={value}")),
    }
    Ok(())
}

/// Apply an OpenSSH-syntax algorithm list to `defaults` (the client's own order):
/// `a,b` replaces, `+a` appends, `-a` removes, `^a` puts first. Wildcards are not
/// expanded; names the client does not support are dropped by the caller.
pub fn algorithm_list(spec: &str, defaults: &[&str]) -> Vec<String> {
    let own = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect()
    };
    let defaults: Vec<String> = defaults.iter().map(|d| d.to_string()).collect();
    if let Some(add) = spec.strip_prefix('+') {
        let mut list = defaults;
        list.extend(own(add));
        dedup(list)
    } else if let Some(remove) = spec.strip_prefix('-') {
        let gone = own(remove);
        defaults.into_iter().filter(|d| !gone.contains(d)).collect()
    } else if let Some(first) = spec.strip_prefix('^') {
        let mut list = own(first);
        list.extend(defaults);
        dedup(list)
    } else {
        own(spec)
    }
}

fn list_has(list: &[String], item: &str) -> bool {
    list.iter().any(|l| l == item)
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !list_has(&out, &item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fence_virsh's default `--ssh-options`, as ClusterLabs defines it.
    const VIRSH_DEFAULT: &str =
        r#"-t '/bin/bash -c "PS1=\\[EXPECT\\]# /bin/bash --noprofile --norc"'"#;

    #[test]
    fn shell_words() {
        assert_eq!(
            split_words(VIRSH_DEFAULT).unwrap(),
            vec![
                "-t",
                r#"/bin/bash -c "PS1=\\[EXPECT\\]# /bin/bash --noprofile --norc""#
            ]
        );
        assert_eq!(
            split_words(r#"a "b c" d\ e "x\"y""#).unwrap(),
            vec!["a", "b c", "d e", "x\"y"]
        );
        assert!(split_words("'open").is_err());
    }

    #[test]
    fn virsh_default_has_no_effect() {
        let o = parse(VIRSH_DEFAULT).unwrap();
        assert_eq!(o.host_keys, None);
        assert_eq!(o.ignored.len(), 2, "{:?}", o.ignored);
    }

    #[test]
    fn usual_test_options_map() {
        let o = parse(
            "-o StrictHostKeyChecking=no -oUserKnownHostsFile=/dev/null -o 'ConnectTimeout 4' \
             -4 -i /k/id -C -o HostKeyAlgorithms=ssh-ed25519",
        )
        .unwrap();
        assert_eq!(o.host_keys, Some(HostKeyPolicy::Off));
        assert_eq!(o.user_known_hosts, Some(vec!["/dev/null".to_string()]));
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(4)));
        assert_eq!(o.family, Some(AddressFamily::Inet));
        assert_eq!(o.identity_files, vec!["/k/id"]);
        assert_eq!(o.compression, Some(true));
        assert_eq!(o.host_key_algorithms.as_deref(), Some("ssh-ed25519"));
    }

    #[test]
    fn first_value_wins_and_accept_new() {
        let o = parse(
            "-o StrictHostKeyChecking=accept-new -o StrictHostKeyChecking=no -o UserKnownHostsFile=none",
        )
        .unwrap();
        assert_eq!(o.host_keys, Some(HostKeyPolicy::AcceptNew));
        assert_eq!(o.user_known_hosts, Some(vec![]));
    }

    #[test]
    fn bad_and_unsupported_options_are_errors() {
        assert!(matches!(
            parse("-o StrictHostKeyChecking=maybe"),
            Err(SshOptionsError::BadValue { .. })
        ));
        assert!(matches!(
            parse("-J bastion"),
            Err(SshOptionsError::Unsupported(_))
        ));
        assert!(matches!(
            parse("-o ProxyCommand='nc %h %p'"),
            Err(SshOptionsError::Unsupported(_))
        ));
        assert!(matches!(parse("-i"), Err(SshOptionsError::MissingValue(_))));
        assert!(matches!(
            parse("-o Compression"),
            Err(SshOptionsError::MissingValue(_))
        ));
    }

    #[test]
    fn ignored_things_are_listed() {
        let o = parse("-p 2222 -l bob -o ServerAliveInterval=5 -tt date").unwrap();
        assert_eq!(
            o.ignored,
            vec![
                "-p 2222",
                "-l bob",
                "-o ServerAliveInterval=5",
                "-t",
                "-t",
                "remote command \"date\""
            ]
        );
    }

    #[test]
    fn algorithm_lists() {
        let d = ["a", "b", "c"];
        assert_eq!(algorithm_list("x,y", &d), vec!["x", "y"]);
        assert_eq!(algorithm_list("+x,a", &d), vec!["a", "b", "c", "x"]);
        assert_eq!(algorithm_list("-b", &d), vec!["a", "c"]);
        assert_eq!(algorithm_list("^c", &d), vec!["c", "a", "b"]);
    }
}
