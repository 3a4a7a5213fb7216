//! An interactive command line over SSH, for devices that only offer a prompt (iLO, DRAC,
//! switch CLIs): a shell channel with a pseudo-terminal, then "send a line, read until
//! the prompt comes back", each step under its own time limit. The prompt patterns are
//! ClusterLabs' `--command-prompt` (a regex, or a Python list of regexes).

use std::io::{Read, Write};
use std::time::Duration;

use regex::Regex;
use ssh2::{Channel, Session};

use super::session::{arm, step_error, SshSession};
use super::SshError;
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

/// A prompt-driven session on a device's command line.
pub struct PromptShell {
    session: Session,
    channel: Channel,
    prompts: Vec<Regex>,
    /// Bytes received and not yet consumed by a prompt match.
    pending: Vec<u8>,
    eol: &'static str,
    peer: String,
}

impl PromptShell {
    /// Open a terminal and a shell, and wait for the first prompt before `deadline`.
    /// Returns the shell and what the device printed before its prompt.
    pub fn open(
        ssh: &SshSession,
        prompts: Vec<Regex>,
        eol: &'static str,
        deadline: Deadline,
    ) -> Result<(PromptShell, String), SshError> {
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
        let mut shell = PromptShell {
            session: ssh.session.clone(),
            channel,
            prompts,
            pending: Vec::new(),
            eol,
            peer: ssh.peer().to_string(),
        };
        let banner = shell.until_prompt(deadline, "waiting for the command prompt after login")?;
        Ok((shell, banner))
    }

    /// Send one line (the device's end-of-line appended).
    pub fn send_line(&mut self, line: &str, deadline: Deadline) -> Result<(), SshError> {
        let step = format!("sending {line:?} to {}", self.peer);
        arm(&self.session, deadline, &step)?;
        let text = format!("{line}{}", self.eol);
        self.channel
            .write_all(text.as_bytes())
            .and_then(|()| self.channel.flush())
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut => SshError::TimedOut { step: step.clone() },
                _ => SshError::Lost {
                    step: step.clone(),
                    reason: e.to_string(),
                },
            })
    }

    /// Read until a prompt shows; returns the plain text before it and consumes the
    /// prompt. `step` names what is waited for in a timeout message.
    pub fn until_prompt(&mut self, deadline: Deadline, step: &str) -> Result<String, SshError> {
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            if let Some((start, end)) = find_prompt(&text, &self.prompts) {
                let before = plain_text(&text[..start]);
                self.pending = text.as_bytes()[end..].to_vec();
                return Ok(before);
            }
            if self.pending.len() > 1 << 20 {
                return Err(SshError::TooMuchOutput {
                    step: step.to_string(),
                });
            }
            let step_on = || format!("{step} on {}", self.peer);
            arm(&self.session, deadline, &step_on())?;
            match self.channel.read(&mut buf) {
                Ok(0) => {
                    return Err(SshError::Lost {
                        step: step_on(),
                        reason: format!(
                            "the device closed the session; last output: {:?}",
                            plain_text(&text).trim()
                        ),
                    })
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(SshError::TimedOut {
                        step: format!(
                            "{} (no prompt matching {}; last output: {:?})",
                            step_on(),
                            self.prompts
                                .iter()
                                .map(|r| format!("{:?}", r.as_str()))
                                .collect::<Vec<_>>()
                                .join(" or "),
                            plain_text(&text).trim()
                        ),
                    })
                }
                Err(e) => {
                    return Err(SshError::Lost {
                        step: step_on(),
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    /// Send `line` and return what the device answered before its next prompt (the
    /// terminal's echo of the line removed), within `limit` (`None` = no limit).
    pub fn command(&mut self, line: &str, limit: Option<Duration>) -> Result<String, SshError> {
        let deadline = limit.map_or(Deadline::NONE, Deadline::after);
        self.send_line(line, deadline)?;
        let answer = self.until_prompt(deadline, &format!("waiting for the answer to {line:?}"))?;
        let answer = answer.trim_start_matches(['\n', ' ']);
        Ok(match answer.split_once('\n') {
            Some((first, rest)) if first.trim() == line.trim() => rest.to_string(),
            None if answer.trim() == line.trim() => String::new(),
            _ => answer.to_string(),
        })
    }

    /// Send a last line (logout) without waiting for an answer; errors are ignored.
    pub fn close(&mut self, line: &str) {
        let _ = self.send_line(line, Deadline::after(Duration::from_millis(500)));
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
