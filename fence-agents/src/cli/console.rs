//! The prompt dialogue with a device's command line, over any [`Link`]: send a line,
//! read until one of the prompts (ClusterLabs' `--command-prompt` regexes) shows, each
//! step under its own time limit, with the output bounded. Text before a prompt comes
//! back as plain lines (carriage returns and terminal escapes removed), the terminal's
//! echo of the command taken off.

use std::time::Duration;

use regex::Regex;

use super::{CliError, Link, LinkError};
use crate::device::Deadline;
use crate::ssh::shell::plain_text;

/// Most a device may print before a prompt (bytes).
const MAX_PENDING: usize = 1 << 20;

/// A logged-in command line.
pub struct Console {
    link: Box<dyn Link>,
    prompts: Vec<Regex>,
    /// Bytes received and not yet consumed by a match.
    pending: Vec<u8>,
    eol: String,
    peer: String,
    /// The text the last match consumed (a prompt, a login question).
    matched: String,
    /// The framework's bound of the current step (`PowerDevice::set_deadline`): no
    /// command waits past it, whatever its own limit (none under `disable_timeout`).
    step: Deadline,
}

/// The earliest match of any pattern in `text`: `(index, start, end)`.
fn earliest(text: &str, patterns: &[&Regex]) -> Option<(usize, usize, usize)> {
    patterns
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.find(text).map(|m| (m.start(), m.end(), i)))
        .min()
        .map(|(start, end, i)| (i, start, end))
}

impl Console {
    /// A console over `link`; `peer` names the device in messages.
    pub fn new(link: Box<dyn Link>, prompts: Vec<Regex>, eol: &str, peer: String) -> Console {
        Console {
            link,
            prompts,
            pending: Vec::new(),
            eol: eol.to_string(),
            peer,
            matched: String::new(),
            step: Deadline::NONE,
        }
    }

    /// Bound every later wait by `step` (the framework's deadline of one step).
    pub fn set_deadline(&mut self, step: Deadline) {
        self.step = step;
    }

    /// The deadline of a wait of at most `limit` (`None` = no own limit) within the step.
    pub fn deadline(&self, limit: Option<Duration>) -> Deadline {
        limit.map_or(Deadline::NONE, Deadline::after).min(self.step)
    }

    /// What the last match consumed (ClusterLabs' `conn.after`).
    pub fn matched(&self) -> &str {
        &self.matched
    }

    /// The end of line sent after each line.
    pub fn eol(&self) -> &str {
        &self.eol
    }

    /// Change the end of line (ClusterLabs' DRAC "double enter" fix drops the LF).
    pub fn set_eol(&mut self, eol: &str) {
        self.eol = eol.to_string();
    }

    /// Send raw bytes (a control character, a line without end of line).
    pub fn send_raw(&mut self, bytes: &[u8], deadline: Deadline) -> Result<(), CliError> {
        let shown = String::from_utf8_lossy(bytes).into_owned();
        self.send(bytes, deadline, &format!("sending {shown:?}"))
    }

    /// Send one line (the end of line appended).
    pub fn send_line(&mut self, line: &str, deadline: Deadline) -> Result<(), CliError> {
        let text = format!("{line}{}", self.eol);
        self.send(text.as_bytes(), deadline, &format!("sending {line:?}"))
    }

    /// Send a line whose text must not show in messages (a password).
    pub fn send_secret_line(&mut self, line: &str, deadline: Deadline) -> Result<(), CliError> {
        let text = format!("{line}{}", self.eol);
        self.send(text.as_bytes(), deadline, "sending the password")
    }

    fn send(&mut self, bytes: &[u8], deadline: Deadline, step: &str) -> Result<(), CliError> {
        self.link.send(bytes, deadline).map_err(|e| match e {
            LinkError::TimedOut => CliError::TimedOut {
                step: format!("{step} to {}", self.peer),
                wanted: "the device to take input".into(),
                last: String::new(),
            },
            LinkError::Broken(reason) => CliError::Lost {
                step: format!("{step} to {}", self.peer),
                reason,
            },
        })
    }

    /// Read until one of `extra` or a command prompt shows, whichever comes first in the
    /// output. Returns which `extra` pattern matched (`None` = a prompt) and the plain
    /// text before the match; the match itself is consumed.
    pub fn expect_any(
        &mut self,
        extra: &[Regex],
        deadline: Deadline,
        step: &str,
    ) -> Result<(Option<usize>, String), CliError> {
        let patterns: Vec<&Regex> = extra.iter().chain(&self.prompts).collect();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            if let Some((i, start, end)) = earliest(&text, &patterns) {
                let before = plain_text(&text[..start]);
                self.matched = text[start..end].to_string();
                self.pending = text.as_bytes()[end..].to_vec();
                return Ok(((i < extra.len()).then_some(i), before));
            }
            if self.pending.len() > MAX_PENDING {
                return Err(CliError::TooMuchOutput {
                    step: format!("{step} on {}", self.peer),
                });
            }
            match self.link.recv(&mut buf, deadline) {
                Ok(0) => {
                    return Err(CliError::Lost {
                        step: format!("{step} on {}", self.peer),
                        reason: format!(
                            "the device closed the session; last output: {:?}",
                            plain_text(&text).trim()
                        ),
                    })
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(LinkError::TimedOut) => {
                    return Err(CliError::TimedOut {
                        step: format!("{step} on {}", self.peer),
                        wanted: patterns
                            .iter()
                            .map(|r| format!("{:?}", r.as_str()))
                            .collect::<Vec<_>>()
                            .join(" or "),
                        last: plain_text(&text).trim().to_string(),
                    })
                }
                Err(LinkError::Broken(reason)) => {
                    return Err(CliError::Lost {
                        step: format!("{step} on {}", self.peer),
                        reason,
                    })
                }
            }
        }
    }

    /// Read until a command prompt shows; the plain text before it.
    pub fn until_prompt(&mut self, deadline: Deadline, step: &str) -> Result<String, CliError> {
        self.expect_any(&[], deadline, step)
            .map(|(_, before)| before)
    }

    /// Send `line` and return what the device answered before its next prompt (the
    /// terminal's echo of the line removed), within `limit` (`None` = no own limit) and
    /// the step's deadline.
    pub fn command(&mut self, line: &str, limit: Option<Duration>) -> Result<String, CliError> {
        let deadline = self.deadline(limit);
        self.send_line(line, deadline)?;
        let answer = self.until_prompt(deadline, &format!("waiting for the answer to {line:?}"))?;
        Ok(strip_echo(&answer, line))
    }

    /// Send a last line (logout) without waiting for an answer, then close; errors are
    /// ignored.
    pub fn close(&mut self, line: &str) {
        let _ = self.send_line(line, Deadline::after(Duration::from_millis(500)));
        self.link.shutdown();
    }

    /// `user@host:port` or `telnet host:port`.
    pub fn peer(&self) -> &str {
        &self.peer
    }
}

/// The answer without the terminal's echo of the command on its first line.
pub fn strip_echo(answer: &str, line: &str) -> String {
    let answer = answer.trim_start_matches(['\n', ' ']);
    match answer.split_once('\n') {
        Some((first, rest)) if first.trim().ends_with(line.trim()) && !line.trim().is_empty() => {
            rest.to_string()
        }
        None if answer.trim() == line.trim() => String::new(),
        _ => answer.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A link that answers each sent line with the next scripted reply.
    struct Script {
        replies: VecDeque<&'static str>,
        out: VecDeque<u8>,
        sent: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    }

    impl Link for Script {
        fn send(&mut self, bytes: &[u8], _: Deadline) -> Result<(), LinkError> {
            self.sent
                .borrow_mut()
                .push(String::from_utf8_lossy(bytes).into_owned());
            if let Some(r) = self.replies.pop_front() {
                self.out.extend(r.bytes());
            }
            Ok(())
        }
        fn recv(&mut self, buf: &mut [u8], _: Deadline) -> Result<usize, LinkError> {
            if self.out.is_empty() {
                return Err(LinkError::TimedOut);
            }
            // One byte at a time: prompts split across reads must still match.
            buf[0] = self.out.pop_front().unwrap_or(0);
            Ok(1)
        }
        fn shutdown(&mut self) {}
    }

    fn console(
        banner: &'static str,
        replies: &[&'static str],
    ) -> (Console, std::rc::Rc<std::cell::RefCell<Vec<String>>>) {
        let sent = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let link = Script {
            replies: replies.iter().copied().collect(),
            out: banner.bytes().collect(),
            sent: sent.clone(),
        };
        let prompts = crate::ssh::shell::parse_prompts(r"['\napc>', '\n>']").unwrap();
        (
            Console::new(Box::new(link), prompts, "\r\n", "test".into()),
            sent,
        )
    }

    #[test]
    fn banner_then_command_without_echo() {
        let (mut c, sent) = console(
            "\r\nAOS v6.4.0\r\n\r\napc>",
            &["olStatus all\r\nE000: Success\r\n 1: Outlet 1: On\r\n\r\napc>"],
        );
        let banner = c.until_prompt(Deadline::NONE, "login").unwrap();
        assert!(banner.contains("AOS v6.4.0"));
        let answer = c.command("olStatus all", None).unwrap();
        assert_eq!(answer, "E000: Success\n 1: Outlet 1: On\n");
        assert_eq!(sent.borrow().as_slice(), ["olStatus all\r\n"]);
    }

    #[test]
    fn missing_prompt_times_out_with_the_last_output() {
        let (mut c, _) = console("\r\napc>", &["olStatus all\r\nE000: Success\r\nap"]);
        c.until_prompt(Deadline::NONE, "login").unwrap();
        match c.command("olStatus all", None) {
            Err(CliError::TimedOut { last, .. }) => assert!(last.ends_with("ap"), "{last}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn extra_patterns_report_which_matched() {
        let (mut c, _) = console("\r\nUser Name : ", &[]);
        let re = [Regex::new(crate::cli::LOGIN_PROMPT).unwrap()];
        let (which, before) = c.expect_any(&re, Deadline::NONE, "login").unwrap();
        assert_eq!(which, Some(0));
        assert_eq!(before, "\n");
    }

    #[test]
    fn the_step_deadline_bounds_every_wait() {
        let (mut c, _) = console("", &[]);
        assert_eq!(c.deadline(None), Deadline::NONE);
        let step = Deadline::after(Duration::from_secs(5));
        c.set_deadline(step);
        assert_eq!(c.deadline(None), step);
        assert_eq!(c.deadline(Some(Duration::from_secs(60))), step);
        assert!(c.deadline(Some(Duration::from_millis(1))).instant() < step.instant());
    }

    #[test]
    fn echo_is_removed_only_when_it_is_the_command() {
        assert_eq!(strip_echo("/S\nPlug | Name\n", "/S"), "Plug | Name\n");
        assert_eq!(strip_echo("Plug | Name\n", "/S"), "Plug | Name\n");
        assert_eq!(strip_echo("exit", "exit"), "");
    }
}
