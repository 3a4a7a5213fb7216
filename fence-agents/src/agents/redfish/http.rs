//! The HTTP(S) exchange with one Redfish service: a blocking reqwest client (rustls,
//! system CA store, certificate checks on unless `--ssl-insecure`), basic auth and the
//! OData headers on every request, redirects followed on the same origin, each request
//! bounded by the timeout its caller gives. Failures become [`DeviceError`]s worded
//! for an administrator: 401 → login denied, 403 → privileges, timeouts, refused
//! connections and untrusted certificates by name. The password is only ever handed
//! to reqwest's basic-auth header; no message or log line carries it.

use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::Value;

use super::endpoint::Endpoint;
use super::resource::error_message;
use crate::device::DeviceError;
use crate::log::{AgentLog, Level, LogSink};

/// What a 404 means to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The system the user named does not exist (terminal: `NoSuchPlug`).
    System,
    /// Any other resource (a protocol error).
    Resource,
}

/// Credentials and transport choices.
pub struct HttpConfig {
    pub endpoint: Endpoint,
    pub username: String,
    pub password: String,
    /// Skip certificate verification (`--ssl-insecure`).
    pub insecure: bool,
}

/// A connection-reusing client for one service.
pub struct Http {
    client: Client,
    endpoint: Endpoint,
    username: String,
    password: String,
    log: AgentLog,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("origin", &self.endpoint.origin())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// Build the client; no network traffic yet.
    pub fn new(config: HttpConfig, log: AgentLog) -> Result<Http, DeviceError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert("OData-Version", HeaderValue::from_static("4.0"));
        let client = Client::builder()
            .default_headers(headers)
            .user_agent(concat!(
                "palisade-fence_redfish/",
                env!("CARGO_PKG_VERSION")
            ))
            .redirect(reqwest::redirect::Policy::limited(5))
            .danger_accept_invalid_certs(config.insecure)
            .tls_built_in_root_certs(!config.insecure)
            .timeout(None)
            .build()
            .map_err(|e| {
                DeviceError::ConnectionLost(format!(
                    "cannot set up the HTTPS client: {}",
                    root_cause(&e)
                ))
            })?;
        Ok(Http {
            client,
            endpoint: config.endpoint,
            username: config.username,
            password: config.password,
            log,
        })
    }

    /// The service's origin (`https://host:port`), for messages.
    pub fn origin(&self) -> String {
        self.endpoint.origin()
    }

    fn url(&self, path: &str) -> Result<String, DeviceError> {
        self.endpoint.url(path).ok_or_else(|| {
            DeviceError::Protocol(format!(
                "the service points at {path}, outside {}; not following it with our credentials",
                self.origin()
            ))
        })
    }

    /// GET a resource and parse it as JSON.
    pub fn get(
        &mut self,
        path: &str,
        timeout: Duration,
        missing: Missing,
    ) -> Result<Value, DeviceError> {
        let url = self.url(path)?;
        let req = self.client.get(&url);
        let body = self.exchange("GET", path, &url, req, timeout, missing)?;
        serde_json::from_str(&body)
            .map_err(|e| DeviceError::Protocol(format!("GET {path}: the answer is not JSON ({e})")))
    }

    /// POST a JSON body (an action); any 2xx answer is acceptance.
    pub fn post(&mut self, path: &str, body: &Value, timeout: Duration) -> Result<(), DeviceError> {
        let url = self.url(path)?;
        let req = self
            .client
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        self.exchange("POST", path, &url, req, timeout, Missing::Resource)
            .map(|_| ())
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        url: &str,
        req: RequestBuilder,
        timeout: Duration,
        missing: Missing,
    ) -> Result<String, DeviceError> {
        let started = Instant::now();
        if timeout.is_zero() {
            return Err(DeviceError::TimedOut(format!(
                "{method} {url}: no time left for the request"
            )));
        }
        let sent = req
            .basic_auth(&self.username, Some(&self.password))
            .timeout(timeout)
            .send()
            .and_then(|r| {
                let status = r.status().as_u16();
                r.text().map(|body| (status, body))
            });
        let (status, body) = match sent {
            Ok(answer) => answer,
            Err(e) => {
                let err = transport_error(&e, method, url, &self.origin(), timeout);
                self.log
                    .log(Level::Debug, &format!("{method} {url}: {err}"));
                return Err(err);
            }
        };
        let level = if method == "GET" {
            Level::Debug
        } else {
            Level::Info
        };
        self.log.log(
            level,
            &format!(
                "{method} {url} -> HTTP {status} ({} ms)",
                started.elapsed().as_millis()
            ),
        );
        status_result(method, path, status, body, &self.username, missing)
    }
}

/// A 2xx answer's body, or the error an answer with another status means.
pub fn status_result(
    method: &str,
    path: &str,
    status: u16,
    body: String,
    username: &str,
    missing: Missing,
) -> Result<String, DeviceError> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let detail = error_message(&body)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Err(match (status, missing) {
        (401, _) => DeviceError::LoginDenied(format!(
            "the Redfish service refused user '{username}' (HTTP 401 on {method} {path}){detail}"
        )),
        (403, _) => DeviceError::InsufficientPrivilege(format!(
            "user '{username}' may not {method} {path} (HTTP 403){detail}"
        )),
        (404, Missing::System) => DeviceError::NoSuchPlug(format!(
            "{path} (the BMC answered HTTP 404{detail}; see --systems-uri)"
        )),
        _ => DeviceError::Protocol(format!("{method} {path} answered HTTP {status}{detail}")),
    })
}

/// The innermost cause of an error chain, which names what really went wrong.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A request that got no HTTP answer, in an administrator's words.
fn transport_error(
    e: &reqwest::Error,
    method: &str,
    url: &str,
    origin: &str,
    timeout: Duration,
) -> DeviceError {
    let cause = root_cause(e);
    if e.is_timeout() {
        return DeviceError::TimedOut(format!(
            "{method} {url}: no answer within {:.1} s",
            timeout.as_secs_f64()
        ));
    }
    if cause.contains("certificate") {
        return DeviceError::ConnectionLost(format!(
            "TLS certificate of {origin} not accepted ({cause}); trust its CA in the system \
             store, or use --ssl-insecure to skip verification"
        ));
    }
    if e.is_connect() {
        return DeviceError::ConnectionLost(format!("cannot connect to {origin}: {cause}"));
    }
    DeviceError::ConnectionLost(format!("{method} {url}: {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_device_errors() {
        assert_eq!(
            status_result("GET", "/x", 204, "b".into(), "u", Missing::Resource),
            Ok("b".to_string())
        );
        let body = r#"{"error":{"message":"Incorrect username or password"}}"#;
        let e =
            status_result("GET", "/x", 401, body.into(), "admin", Missing::Resource).unwrap_err();
        assert!(
            matches!(&e, DeviceError::LoginDenied(m)
            if m.contains("admin") && m.contains("Incorrect username")),
            "{e}"
        );
        assert!(matches!(
            status_result("POST", "/x", 403, String::new(), "u", Missing::Resource),
            Err(DeviceError::InsufficientPrivilege(_))
        ));
        assert!(matches!(
            status_result("GET", "/s/9", 404, String::new(), "u", Missing::System),
            Err(DeviceError::NoSuchPlug(m)) if m.contains("/s/9")
        ));
        assert!(matches!(
            status_result("GET", "/s/9", 404, String::new(), "u", Missing::Resource),
            Err(DeviceError::Protocol(_))
        ));
        let e =
            status_result("POST", "/r", 501, "nope".into(), "u", Missing::Resource).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Device protocol error: POST /r answered HTTP 501"
        );
    }
}
