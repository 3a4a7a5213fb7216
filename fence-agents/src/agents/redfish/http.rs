//! The HTTP(S) exchange with one Redfish service: a blocking reqwest client (rustls,
//! system CA store, certificate checks on unless `--ssl-insecure`), basic auth and the
//! OData headers on every request, redirects followed on the same origin only (scheme,
//! host and port; another origin is an error), each request bounded by the timeout its
//! caller gives and each answer's body by [`MAX_BODY`]. Failures become [`DeviceError`]s worded
//! for an administrator: 401 → login denied, 403 → privileges, timeouts, refused
//! connections and untrusted certificates by name. The password is only ever handed
//! to reqwest's basic-auth header; no message or log line carries it.

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::redirect::{Attempt, Policy};
use reqwest::Url;
use serde_json::Value;

use super::endpoint::Endpoint;
use super::resource::error_message;
use crate::device::DeviceError;
use crate::log::{AgentLog, Level, LogSink};

/// The largest answer body read (1 MiB). A Redfish resource is a few KB; a service
/// sending more is broken or hostile, and reading it whole would exhaust memory.
pub const MAX_BODY: u64 = 1024 * 1024;

/// Redirects followed in a row before giving up.
const MAX_REDIRECTS: usize = 5;

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
            .redirect(Policy::custom(same_origin_redirects))
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
            .map_err(|e| transport_error(&e, method, url, &self.origin(), timeout))
            .and_then(|r| {
                let status = r.status().as_u16();
                read_body(r, method, url, &self.origin(), timeout).map(|body| (status, body))
            });
        let (status, body) = match sent {
            Ok(answer) => answer,
            Err(err) => {
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

/// The redirect policy: follow up to [`MAX_REDIRECTS`] redirects within the origin of
/// the first request (which `Endpoint::url` keeps on the service's); refuse any other
/// scheme, host or port, so credentials and commands never go elsewhere.
fn same_origin_redirects(attempt: Attempt) -> reqwest::redirect::Action {
    let Some(first) = attempt.previous().first() else {
        return attempt.error("redirect without a request");
    };
    if !same_origin(first, attempt.url()) {
        let message = format!(
            "the service redirected to {}, another origin than {}; not following it",
            attempt.url().origin().ascii_serialization(),
            first.origin().ascii_serialization()
        );
        return attempt.error(message);
    }
    if attempt.previous().len() > MAX_REDIRECTS {
        return attempt.error(format!("more than {MAX_REDIRECTS} redirects in a row"));
    }
    attempt.follow()
}

/// Scheme, host and port (the scheme's default when none is written) all equal.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Read an answer's body, refusing one larger than [`MAX_BODY`] (by its Content-Length
/// before reading, else after reading one byte more than the limit).
pub(crate) fn read_body(
    response: Response,
    method: &str,
    url: &str,
    origin: &str,
    timeout: Duration,
) -> Result<String, DeviceError> {
    let too_large = || {
        DeviceError::Protocol(format!(
            "{method} {url}: the answer is larger than {MAX_BODY} bytes; not reading it"
        ))
    };
    if response.content_length().is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    response
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            {
                Some(re) => transport_error(re, method, url, origin, timeout),
                None => DeviceError::ConnectionLost(format!("{method} {url}: {e}")),
            }
        })?;
    if body.len() as u64 > MAX_BODY {
        return Err(too_large());
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
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
pub(crate) fn transport_error(
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
    if e.is_redirect() {
        return DeviceError::Protocol(format!("{method} {url}: {cause}"));
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
    fn origins_are_scheme_host_and_port() {
        let url = |u: &str| Url::parse(u).unwrap();
        let bmc = url("https://bmc:443/redfish/v1");
        assert!(same_origin(&bmc, &url("https://BMC/redfish/v1/Systems/1")));
        assert!(!same_origin(&bmc, &url("http://bmc:443/x")));
        assert!(!same_origin(&bmc, &url("https://bmc:8443/x")));
        assert!(!same_origin(&bmc, &url("https://bmc.evil/x")));
        let v6 = url("http://[::1]:8000/a");
        assert!(same_origin(&v6, &url("http://[::1]:8000/b")));
        assert!(!same_origin(&v6, &url("http://127.0.0.1:8000/b")));
    }

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
