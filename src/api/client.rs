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
    /// No answer within the client's own time limit.
    #[error("the fencer did not answer within {}s (overloaded or stuck?)", .0.as_secs())]
    NoAnswer(Duration),
}

impl ClientError {
    fn from_api(e: super::protocol::ApiError) -> ClientError {
        match e.code {
            ErrorCode::Unauthorized => ClientError::Refused(e.message),
            code => ClientError::Api {
                code,
                message: e.message,
            },
        }
    }
}

/// One connection to the daemon.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    timeout: Option<Duration>,
}

impl Client {
    /// Connect; `timeout` bounds every read (None = wait as long as it takes).
    pub fn connect(path: &Path, timeout: Option<Duration>) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        stream.set_read_timeout(timeout)?;
        stream.set_write_timeout(timeout)?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            timeout,
        })
    }

    /// Change the bound on every later read and write (None = no bound).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.writer.set_read_timeout(timeout)?;
        self.writer.set_write_timeout(timeout)?;
        self.timeout = timeout;
        Ok(())
    }

    fn io_error(&self, e: std::io::Error) -> ClientError {
        match (e.kind(), self.timeout) {
            (std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut, Some(t)) => {
                ClientError::NoAnswer(t)
            }
            _ => ClientError::Io(e),
        }
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
            // A refused or turned-away peer may be disconnected before it writes: the
            // daemon's one line is still there to read.
            return match self.next_line() {
                Ok(Some(answer)) => match serde_json::from_str::<Response>(&answer) {
                    Ok(Response {
                        error: Some(err), ..
                    }) => Err(ClientError::from_api(err)),
                    _ => Err(self.io_error(e)),
                },
                _ => Err(self.io_error(e)),
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
                && response.error.as_ref().is_some_and(|e| {
                    matches!(e.code, ErrorCode::Unauthorized | ErrorCode::Unavailable)
                });
            if !answers_us && !refused {
                continue;
            }
            return match (response.ok, response.result, response.error) {
                (true, Some(result), _) => Ok(result),
                (true, None, _) => Ok(Value::Null),
                (false, _, Some(e)) => Err(ClientError::from_api(e)),
                (false, _, None) => Err(ClientError::Protocol("error without reason".into())),
            };
        }
    }

    /// The next line from the daemon (None at end of stream).
    pub fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        let mut line = String::new();
        let read = self.reader.read_line(&mut line);
        if read.map_err(|e| self.io_error(e))? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end().to_string()))
    }
}
