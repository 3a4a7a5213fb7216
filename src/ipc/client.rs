//! The blocking typed client of the layer (what the CLI and the node daemon's fencing
//! use): connect to a service's socket, send requests with fresh ids, read bounded lines
//! until the matching response (other lines, such as a subscription's events, are left to
//! [`Client::next_line`]); every read and write is bounded by the client's time limit.

use std::io::{BufReader, Write};
use std::marker::PhantomData;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::frame::{read_line, Frame};
use super::wire::{request_line, ApiError, ErrorCode, Response};
use super::Protocol;

/// A request that did not get a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket cannot be reached.
    #[error("cannot connect to the {service} at {}: {source} ({hint})", path.display())]
    Connect {
        /// The service.
        service: &'static str,
        /// Socket path.
        path: PathBuf,
        /// What to check.
        hint: &'static str,
        /// The failure.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("connection to the {service} failed: {source}")]
    Io {
        /// The service.
        service: &'static str,
        /// The failure.
        source: std::io::Error,
    },
    /// The daemon refused us (`unauthorized`).
    #[error("refused by the {service}: {message}")]
    Refused {
        /// The service.
        service: &'static str,
        /// Why.
        message: String,
    },
    /// The daemon answered with an error.
    #[error("{message} ({code:?})")]
    Api {
        /// Error code.
        code: ErrorCode,
        /// Message.
        message: String,
    },
    /// The answer could not be read.
    #[error("unreadable answer from the {service}: {message}")]
    Protocol {
        /// The service.
        service: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The daemon closed the connection without answering.
    #[error("the {service} closed the connection without answering")]
    Closed {
        /// The service.
        service: &'static str,
    },
    /// No answer within the client's own time limit.
    #[error("the {service} did not answer within {}s (overloaded or stuck?)", after.as_secs())]
    NoAnswer {
        /// The service.
        service: &'static str,
        /// The limit.
        after: Duration,
    },
}

/// One connection to a service `P`.
#[derive(Debug)]
pub struct Client<P: Protocol> {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    timeout: Option<Duration>,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Client<P> {
    /// Connect; `timeout` bounds every read and write (None = wait as long as it takes).
    pub fn connect(path: &Path, timeout: Option<Duration>) -> Result<Client<P>, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            service: P::SERVICE,
            path: path.to_path_buf(),
            hint: P::START_HINT,
            source,
        })?;
        let io = |source| ClientError::Io {
            service: P::SERVICE,
            source,
        };
        stream.set_read_timeout(timeout).map_err(io)?;
        stream.set_write_timeout(timeout).map_err(io)?;
        let writer = stream.try_clone().map_err(io)?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            timeout,
            protocol: PhantomData,
        })
    }

    /// Change the bound on every later read and write (None = no bound).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        let set = self
            .writer
            .set_read_timeout(timeout)
            .and_then(|()| self.writer.set_write_timeout(timeout));
        set.map_err(|e| self.io_error(e))?;
        self.timeout = timeout;
        Ok(())
    }

    fn io_error(&self, e: std::io::Error) -> ClientError {
        match (e.kind(), self.timeout) {
            (std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut, Some(after)) => {
                ClientError::NoAnswer {
                    service: P::SERVICE,
                    after,
                }
            }
            _ => ClientError::Io {
                service: P::SERVICE,
                source: e,
            },
        }
    }

    fn protocol_error(message: impl Into<String>) -> ClientError {
        ClientError::Protocol {
            service: P::SERVICE,
            message: message.into(),
        }
    }

    fn from_api(e: ApiError) -> ClientError {
        match e.code {
            ErrorCode::Unauthorized => ClientError::Refused {
                service: P::SERVICE,
                message: e.message,
            },
            code => ClientError::Api {
                code,
                message: e.message,
            },
        }
    }

    /// Send one request and wait for its response; returns the typed `result`.
    pub fn call(&mut self, request: &P::Request) -> Result<P::Answer, ClientError> {
        self.call_as(request)
    }

    /// Send one request and read its `result` as `T` (for a service whose results
    /// differ by request kind).
    pub fn call_as<T: DeserializeOwned>(&mut self, request: &P::Request) -> Result<T, ClientError> {
        let result = self.exchange(request)?;
        serde_json::from_value(result).map_err(|e| Self::protocol_error(e.to_string()))
    }

    fn exchange(&mut self, request: &P::Request) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line =
            request_line::<P>(request, &Value::from(id)).map_err(Self::protocol_error)?;
        line.push('\n');
        if let Err(e) = self.writer.write_all(line.as_bytes()) {
            // A refused or turned-away peer may be disconnected before it writes: the
            // daemon's one line is still there to read.
            return match self.next_line() {
                Ok(Some(answer)) => match serde_json::from_str::<Response>(&answer) {
                    Ok(Response {
                        error: Some(err), ..
                    }) => Err(Self::from_api(err)),
                    _ => Err(self.io_error(e)),
                },
                _ => Err(self.io_error(e)),
            };
        }
        loop {
            let Some(line) = self.next_line()? else {
                return Err(ClientError::Closed {
                    service: P::SERVICE,
                });
            };
            let Ok(response) = serde_json::from_str::<Response>(&line) else {
                continue; // an event line
            };
            let answers_us = response.id.as_u64() == Some(id);
            // A refusal comes before any request is read, so it carries no id; so does
            // the answer to an over-long line.
            let refused = response.id.is_null()
                && response.error.as_ref().is_some_and(|e| {
                    matches!(
                        e.code,
                        ErrorCode::Unauthorized | ErrorCode::Unavailable | ErrorCode::BadRequest
                    )
                });
            if !answers_us && !refused {
                continue;
            }
            return match (response.ok, response.result, response.error) {
                (true, Some(result), _) => Ok(result),
                (true, None, _) => Ok(Value::Null),
                (false, _, Some(e)) => Err(Self::from_api(e)),
                (false, _, None) => Err(Self::protocol_error("error without reason")),
            };
        }
    }

    /// The next line from the daemon (None at end of stream).
    pub fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        match read_line(&mut self.reader, P::MAX_ANSWER) {
            Ok(Frame::Eof) => Ok(None),
            Ok(Frame::TooLong) => Err(Self::protocol_error(format!(
                "a line longer than {} bytes",
                P::MAX_ANSWER
            ))),
            Ok(Frame::Line(bytes)) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|e| Self::protocol_error(e.to_string())),
            Err(e) => Err(self.io_error(e)),
        }
    }
}
