//! The envelope every service shares: how a request line carries its version and id, and
//! what a response line looks like. Parsing is pure and strict: a line that is not a JSON
//! object, has no `"request"`, names an unknown kind or field, or carries a `"v"` other
//! than the service's version is rejected with a coded error and whatever `id` could be
//! read, so the client can still match the answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Protocol;

/// Error codes of failed requests (kebab-case on the wire). The layer itself answers
/// `bad-request`, `unsupported-version`, `unauthorized` and `unavailable`; services add
/// theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, not an object, unknown request kind or field, wrong type, too long.
    BadRequest,
    /// `v` is not a version this daemon speaks.
    UnsupportedVersion,
    /// The peer is neither root nor in the allowed group.
    Unauthorized,
    /// No such device (fencer).
    UnknownDevice,
    /// The request was refused: a device definition or level (fencer), a node or
    /// resource name that is not in the configuration (node daemon).
    Invalid,
    /// The daemon could not do it (history unreadable, shutting down, no answer...).
    Internal,
    /// Too many connections (in all, or from this user): closed at once.
    Unavailable,
}

impl ErrorCode {
    /// The code as written on the wire (`bad-request`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::UnsupportedVersion => "unsupported-version",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnknownDevice => "unknown-device",
            ErrorCode::Invalid => "invalid",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// The error part of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable reason.
    pub message: String,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// The first version of every service; what [`Response`]'s constructors write until the
/// server stamps the service's own ([`Protocol::VERSION`]).
pub const FIRST_VERSION: u32 = 1;

/// One response line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Protocol version.
    pub v: u32,
    /// The request's `id` (null if it had none or could not be read).
    #[serde(default)]
    pub id: Value,
    /// Success?
    pub ok: bool,
    /// The payload of a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The reason of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

impl Response {
    /// A success carrying `result`.
    pub fn success(id: Value, result: &impl Serialize) -> Response {
        match serde_json::to_value(result) {
            Ok(value) => Response {
                v: FIRST_VERSION,
                id,
                ok: true,
                result: Some(value),
                error: None,
            },
            Err(e) => Response::failure(id, ApiError::new(ErrorCode::Internal, e.to_string())),
        }
    }

    /// A failure.
    pub fn failure(id: Value, error: ApiError) -> Response {
        Response {
            v: FIRST_VERSION,
            id,
            ok: false,
            result: None,
            error: Some(error),
        }
    }

    /// Success or failure from a handler's outcome.
    pub fn from_result<T: Serialize>(id: Value, outcome: Result<T, ApiError>) -> Response {
        match outcome {
            Ok(result) => Response::success(id, &result),
            Err(error) => Response::failure(id, error),
        }
    }

    /// The line to send (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            let failure = Response::failure(
                self.id.clone(),
                ApiError::new(ErrorCode::Internal, e.to_string()),
            );
            serde_json::to_string(&failure).unwrap_or_default()
        })
    }
}

/// A request line that could not be used: the error and whatever `id` could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The request's `id` if readable.
    pub id: Value,
    /// Why.
    pub error: ApiError,
}

/// Parse one request line of service `P` into its `id` and request.
pub fn parse_request<P: Protocol>(line: &[u8]) -> Result<(Value, P::Request), Rejected> {
    let bad = |id: Value, message: String| Rejected {
        id,
        error: ApiError::new(ErrorCode::BadRequest, message),
    };
    let value: Value =
        serde_json::from_slice(line).map_err(|e| bad(Value::Null, format!("not JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(bad(Value::Null, "a request must be a JSON object".into()));
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    match object.remove("v") {
        None => {}
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(P::VERSION)) => {}
        Some(other) => {
            return Err(Rejected {
                id,
                error: ApiError::new(
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "protocol version {other} is not supported (this daemon speaks {})",
                        P::VERSION
                    ),
                ),
            })
        }
    }
    if !object.contains_key("request") {
        return Err(bad(
            id,
            format!("missing \"request\" (e.g. {})", P::EXAMPLES),
        ));
    }
    let request = serde_json::from_value(Value::Object(object))
        .map_err(|e| bad(id.clone(), format!("invalid request: {e}")))?;
    Ok((id, request))
}

/// The line (no newline) that sends `request` of service `P` with `id`.
pub fn request_line<P: Protocol>(request: &P::Request, id: &Value) -> Result<String, String> {
    let mut value = serde_json::to_value(request).map_err(|e| e.to_string())?;
    let Value::Object(map) = &mut value else {
        return Err("a request must serialize to a JSON object".into());
    };
    map.insert("v".into(), Value::from(P::VERSION));
    map.insert("id".into(), id.clone());
    Ok(value.to_string())
}
