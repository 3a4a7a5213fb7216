//! A blocking client of the fencer API (what the CLI uses): connect to the socket, send
//! requests with fresh ids, read lines until the matching response (event lines of a
//! subscription are handed out separately).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::protocol::{ErrorCode, Request, Response, PROTOCOL_VERSION};

/// A request that did not get a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket cannot be reached.
    #[error("cannot connect to the fencer at {path}: {source} (is `palisade daemon` running?)")]
    Connect {
        /// Socket path.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("connection to the fencer failed: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon refused us.
    #[error("refused by the fencer: {0}")]
    Refused(String),
    /// The daemon answered with an error.
    #[error("{message} ({code:?})")]
    Api {
        /// Error code.
        code: ErrorCode,
        /// Message.
        message: String,
    },
    /// The answer could not be read.
    #[error("unreadable answer from the fencer: {0}")]
    Protocol(String),
    /// The daemon closed the connection without answering.
    #[error("the fencer closed the connection without answering")]
    Closed,
}

/// One connection to the daemon.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Client {
    /// Connect; `timeout` bounds every read (None = wait as long as it takes).
    pub fn connect(path: &Path, timeout: Option<Duration>) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        stream.set_read_timeout(timeout)?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
        })
    }

    /// Send one request and wait for its response; returns the `result`.
    pub fn call(&mut self, request: &Request) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut value =
            serde_json::to_value(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Value::Object(map) = &mut value {
            map.insert("v".into(), Value::from(PROTOCOL_VERSION));
            map.insert("id".into(), Value::from(id));
        }
        let mut line = value.to_string();
        line.push('\n');
        if let Err(e) = self.writer.write_all(line.as_bytes()) {
            // A refused peer may be disconnected before it writes: the refusal line is
            // still there to read.
            return match self.next_line() {
                Ok(Some(answer)) => match serde_json::from_str::<Response>(&answer) {
                    Ok(Response {
                        error: Some(err), ..
                    }) if err.code == ErrorCode::Unauthorized => {
                        Err(ClientError::Refused(err.message))
                    }
                    _ => Err(ClientError::Io(e)),
                },
                _ => Err(ClientError::Io(e)),
            };
        }
        loop {
            let Some(line) = self.next_line()? else {
                return Err(ClientError::Closed);
            };
            let Ok(response) = serde_json::from_str::<Response>(&line) else {
                continue; // an event line
            };
            let answers_us = response.id.as_u64() == Some(id);
            // A refusal comes before any request is read, so it carries no id.
            let refused = response.id.is_null()
                && response
                    .error
                    .as_ref()
                    .is_some_and(|e| e.code == ErrorCode::Unauthorized);
            if !answers_us && !refused {
                continue;
            }
            return match (response.ok, response.result, response.error) {
                (true, Some(result), _) => Ok(result),
                (true, None, _) => Ok(Value::Null),
                (false, _, Some(e)) if e.code == ErrorCode::Unauthorized => {
                    Err(ClientError::Refused(e.message))
                }
                (false, _, Some(e)) => Err(ClientError::Api {
                    code: e.code,
                    message: e.message,
                }),
                (false, _, None) => Err(ClientError::Protocol("error without reason".into())),
            };
        }
    }

    /// The next line from the daemon (None at end of stream).
    pub fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end().to_string()))
    }
}
