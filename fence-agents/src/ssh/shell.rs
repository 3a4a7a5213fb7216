//! An interactive command line over SSH, for devices that only offer a prompt (iLO, DRAC,
//! PDU CLIs): a shell channel with a pseudo-terminal as a [`Link`] for `cli::Console`
//! (which does "send a line, read until the prompt comes back" over SSH or telnet), and
//! the prompt patterns: ClusterLabs' `--command-prompt` (a regex, or a Python list of
//! regexes), matching and terminal noise removal.

use std::io::{Read, Write};

use regex::Regex;
use ssh2::{Channel, Session};

use super::session::{arm, step_error, SshSession};
use super::SshError;
use crate::cli::{Link, LinkError};
use crate::device::Deadline;

/// Parse `--command-prompt`: one regular expression, or a Python list literal of them
/// as ClusterLabs' defaults are written (`['MP>', 'hpiLO->']`, `['\\[EXPECT\\]#']`).
pub fn parse_prompts(text: &str) -> Result<Vec<Regex>, String> {
    let t = text.trim();
    let words = match t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => python_strings(inner)?,
        None => vec![t.to_string()],
    };
    if words.iter().all(|w| w.is_empty()) {
        return Err(format!("--command-prompt {text:?} holds no prompt"));
    }
    words
        .iter()
        .filter(|w| !w.is_empty())
        .map(|w| {
            Regex::new(w).map_err(|e| format!("--command-prompt {w:?} is not a usable regex: {e}"))
        })
        .collect()
}

/// The items of a Python list body: quoted strings (`'…'`, `"…"` with backslash
/// escapes) or bare words, separated by commas.
fn python_strings(body: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            break;
        };
        let mut item = String::new();
        if first == '\'' || first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some(c) if c == first => break,
                    Some('\\') => match chars.next() {
                        Some('n') => item.push('\n'),
                        Some('r') => item.push('\r'),
                        Some('t') => item.push('\t'),
                        Some(c @ ('\\' | '\'' | '"')) => item.push(c),
                        Some(c) => {
                            item.push('\\');
                            item.push(c);
                        }
                        None => return Err(format!("unterminated string in [{body}]")),
                    },
                    Some(c) => item.push(c),
                    None => return Err(format!("unterminated string in [{body}]")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim().to_string();
        }
        items.push(item);
    }
    Ok(items)
}

/// Where the earliest prompt in `text` is: `(start, end)`.
pub fn find_prompt(text: &str, prompts: &[Regex]) -> Option<(usize, usize)> {
    prompts
        .iter()
        .filter_map(|r| r.find(text).map(|m| (m.start(), m.end())))
        .min()
}

/// Terminal output as plain lines: carriage returns and ANSI escape sequences removed.
pub fn plain_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // CSI: parameters, then one final byte in @..~
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A shell channel with a pseudo-terminal on an SSH session: the [`Link`] a device's
/// command line is reached by over SSH. The session lives as long as the link.
pub struct SshLink {
    channel: Channel,
    session: Session,
    ssh: SshSession,
}

fn link_error(e: std::io::Error) -> LinkError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => LinkError::TimedOut,
        _ => LinkError::Broken(e.to_string()),
    }
}

/// Point libssh2's timeout at `deadline` for one read or write.
fn arm_link(session: &Session, deadline: Deadline) -> Result<(), LinkError> {
    arm(session, deadline, "").map_err(|_| LinkError::TimedOut)
}

impl SshLink {
    /// Open a terminal and a shell on `ssh` before `deadline`.
    pub fn open(ssh: SshSession, deadline: Deadline) -> Result<SshLink, SshError> {
        let step = format!("opening a shell on {}", ssh.peer());
        arm(&ssh.session, deadline, &step)?;
        let mut channel = ssh
            .session
            .channel_session()
            .map_err(|e| step_error(&step, &e))?;
        channel
            .request_pty("vt100", None, Some((200, 50, 0, 0)))
            .map_err(|e| step_error(&step, &e))?;
        channel.shell().map_err(|e| step_error(&step, &e))?;
        Ok(SshLink {
            channel,
            session: ssh.session.clone(),
            ssh,
        })
    }

    /// `user@[host]:port`.
    pub fn peer(&self) -> &str {
        self.ssh.peer()
    }
}

impl Link for SshLink {
    fn send(&mut self, bytes: &[u8], deadline: Deadline) -> Result<(), LinkError> {
        arm_link(&self.session, deadline)?;
        self.channel
            .write_all(bytes)
            .and_then(|()| self.channel.flush())
            .map_err(link_error)
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Deadline) -> Result<usize, LinkError> {
        arm_link(&self.session, deadline)?;
        self.channel.read(buf).map_err(link_error)
    }

    fn shutdown(&mut self) {
        self.session.set_timeout(500);
        let _ = self.channel.send_eof();
        let _ = self.channel.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusterlabs_prompt_defaults_parse() {
        let ilo = parse_prompts("['MP>', 'hpiLO->']").unwrap();
        assert_eq!(ilo.len(), 2);
        assert!(find_prompt("</>hpiLO-> ", &ilo).is_some());
        let virsh = parse_prompts(r"['\\[EXPECT\\]#']").unwrap();
        assert_eq!(virsh[0].as_str(), r"\[EXPECT\]#");
        assert!(find_prompt("x\n[EXPECT]# ", &virsh).is_some());
        let single = parse_prompts(r"admin\$").unwrap();
        assert_eq!(single[0].as_str(), r"admin\$");
        assert!(parse_prompts("[]").is_err());
        assert!(parse_prompts("(unclosed").is_err());
    }

    #[test]
    fn earliest_prompt_wins() {
        let p = parse_prompts("['B>', 'A>']").unwrap();
        assert_eq!(find_prompt("xx A> yy B>", &p), Some((3, 5)));
        assert_eq!(find_prompt("nothing", &p), None);
    }

    #[test]
    fn terminal_noise_is_removed() {
        assert_eq!(
            plain_text("\u{1b}[1;32mstatus=0\u{1b}[0m\r\r\nnext\r\n"),
            "status=0\nnext\n"
        );
    }
}
