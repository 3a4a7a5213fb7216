//! Where the Redfish service is: scheme, host and port from `--ip` and `--ipport`, and
//! the absolute URLs of the paths the service names. Pure text handling, no I/O.
//!
//! `--ip` accepts `host`, `host:port` (ClusterLabs splits a single colon the same way),
//! `[v6addr]`, `[v6addr]:port`, a bare IPv6 address, and an optional scheme in front:
//! `https://` (the default) or `http://` for a service without TLS. The port comes from
//! `--ip` when it holds one, else from `--ipport` when the caller gave it, else 443 for
//! HTTPS and 80 for HTTP.

/// How to talk to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// TLS (the default, and the only mode of ClusterLabs' agent).
    Https,
    /// Plain HTTP, only when `--ip` starts with `http://`.
    Http,
}

impl Scheme {
    /// `https` / `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }

    /// The port used when neither `--ip` nor `--ipport` names one.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }
    }
}

/// Why `--ip` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Nothing left once the scheme and brackets are removed.
    #[error("--ip '{0}' names no host")]
    NoHost(String),
    /// A scheme other than http/https.
    #[error("--ip '{0}': only https:// (default) or http:// may precede the host")]
    Scheme(String),
    /// A path after the host.
    #[error("--ip '{0}' holds a path; give host[:port] only and the path with --redfish-uri")]
    Path(String),
    /// Port not in 1..=65535.
    #[error("--ip '{0}' holds an invalid port")]
    Port(String),
}

/// The service's origin: scheme, host as written in a URL (IPv6 in brackets), port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

fn parse_port(text: &str, whole: &str) -> Result<u16, EndpointError> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| EndpointError::Port(whole.to_string()))
}

impl Endpoint {
    /// Read `--ip`; `ipport` is the port only when the caller gave `--ipport`.
    pub fn parse(ip: &str, ipport: Option<u16>) -> Result<Endpoint, EndpointError> {
        let whole = ip.trim();
        let lower = whole.to_ascii_lowercase();
        let (scheme, rest) = if lower.starts_with("https://") {
            (Scheme::Https, &whole["https://".len()..])
        } else if lower.starts_with("http://") {
            (Scheme::Http, &whole["http://".len()..])
        } else if lower.contains("://") {
            return Err(EndpointError::Scheme(whole.to_string()));
        } else {
            (Scheme::Https, whole)
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(EndpointError::Path(whole.to_string()));
        }
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (addr, after) = inner
                .split_once(']')
                .ok_or_else(|| EndpointError::NoHost(whole.to_string()))?;
            let port = match after {
                "" => None,
                p => Some(parse_port(
                    p.strip_prefix(':')
                        .ok_or_else(|| EndpointError::Port(whole.to_string()))?,
                    whole,
                )?),
            };
            (format!("[{addr}]"), port)
        } else {
            match rest.matches(':').count() {
                0 => (rest.to_string(), None),
                1 => {
                    let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
                    (h.to_string(), Some(parse_port(p, whole)?))
                }
                _ => (format!("[{rest}]"), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(EndpointError::NoHost(whole.to_string()));
        }
        let port = port.or(ipport).unwrap_or(scheme.default_port());
        Ok(Endpoint { scheme, host, port })
    }

    /// `https://host:port`.
    pub fn origin(&self) -> String {
        format!("{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }

    /// The absolute URL of a path the caller or the service named. A full URL is taken
    /// only when it points at this same origin: credentials never go to another host.
    pub fn url(&self, path: &str) -> Option<String> {
        let path = path.trim();
        if path.contains("://") {
            let origin = self.origin();
            let default_origin = format!("{}://{}", self.scheme.as_str(), self.host);
            let same = |o: &str| {
                path.len() >= o.len()
                    && path[..o.len()].eq_ignore_ascii_case(o)
                    && path[o.len()..].starts_with('/')
            };
            if same(&origin) || (self.port == self.scheme.default_port() && same(&default_origin)) {
                return Some(path.to_string());
            }
            return None;
        }
        Some(format!("{}{}", self.origin(), absolute_path(path)))
    }
}

/// A path with exactly one leading `/` (`redfish/v1` → `/redfish/v1`).
pub fn absolute_path(path: &str) -> String {
    format!("/{}", path.trim().trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, port: Option<u16>) -> Endpoint {
        Endpoint::parse(ip, port).unwrap()
    }

    #[test]
    fn host_alone_is_https_on_443_or_ipport() {
        assert_eq!(ep("bmc1", None).origin(), "https://bmc1:443");
        assert_eq!(ep("bmc1", Some(8443)).origin(), "https://bmc1:8443");
    }

    #[test]
    fn a_port_in_ip_wins_as_in_clusterlabs() {
        assert_eq!(
            ep("10.0.0.1:8443", Some(443)).origin(),
            "https://10.0.0.1:8443"
        );
        assert_eq!(ep("[fe80::1]:444", None).origin(), "https://[fe80::1]:444");
    }

    #[test]
    fn bare_ipv6_is_bracketed() {
        assert_eq!(ep("fe80::1", Some(443)).origin(), "https://[fe80::1]:443");
        assert_eq!(ep("[::1]", None).origin(), "https://[::1]:443");
    }

    #[test]
    fn http_scheme_means_plain_http_on_80() {
        let e = ep("HTTP://127.0.0.1", None);
        assert_eq!(e.scheme, Scheme::Http);
        assert_eq!(e.origin(), "http://127.0.0.1:80");
        assert_eq!(ep("http://h:8000/", Some(1)).origin(), "http://h:8000");
        assert_eq!(ep("https://h", None).scheme, Scheme::Https);
    }

    #[test]
    fn bad_addresses_are_refused() {
        assert!(matches!(
            Endpoint::parse("ftp://h", None),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://h/redfish/v1", None),
            Err(EndpointError::Path(_))
        ));
        assert!(matches!(
            Endpoint::parse("h:0", None),
            Err(EndpointError::Port(_))
        ));
        assert!(matches!(
            Endpoint::parse("h:http", None),
            Err(EndpointError::Port(_))
        ));
        assert!(matches!(
            Endpoint::parse("[::1]x", None),
            Err(EndpointError::Port(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://", None),
            Err(EndpointError::NoHost(_))
        ));
        assert!(matches!(
            Endpoint::parse(":443", None),
            Err(EndpointError::NoHost(_))
        ));
    }

    #[test]
    fn urls_stay_on_the_same_origin() {
        let e = ep("bmc:8443", None);
        assert_eq!(
            e.url("/redfish/v1").as_deref(),
            Some("https://bmc:8443/redfish/v1")
        );
        assert_eq!(
            e.url("redfish/v1").as_deref(),
            Some("https://bmc:8443/redfish/v1")
        );
        assert_eq!(
            e.url("https://bmc:8443/redfish/v1/Systems/1").as_deref(),
            Some("https://bmc:8443/redfish/v1/Systems/1")
        );
        assert_eq!(e.url("https://evil:8443/redfish/v1"), None);
        assert_eq!(e.url("https://bmc:8443.evil/x"), None);
        let default_port = ep("bmc", None);
        assert!(default_port.url("https://bmc/redfish/v1").is_some());
    }
}
