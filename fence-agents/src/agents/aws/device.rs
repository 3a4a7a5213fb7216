//! [`Ec2Device`]: the [`PowerDevice`] of fence_aws. Every EC2 call is one SigV4-signed
//! POST to the configured endpoint (reqwest + rustls, no redirects, each request bounded
//! by the step's deadline, each answer by the Redfish family's body limit); the instance
//! metadata service (IMDSv2 token, else v1) is asked who this node is for the race
//! check before a stop, and for the instance role's credentials when no others were
//! configured. The metadata service is never reached through a proxy.

use std::time::{Duration, SystemTime};

use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use reqwest::Url;

use super::config::{host_header, Config, Source};
use super::ec2::{self, Instance, Select};
use super::sigv4::{self, Credentials};
use crate::agents::redfish::http::{read_body, transport_error};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::log::{AgentLog, Level, LogSink};

/// One step against the instance metadata service at most (it answers in microseconds
/// on an instance; off an instance it is unreachable and must fail fast).
const METADATA_STEP: Duration = Duration::from_secs(2);

/// What the options say beyond [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--filter name=value` of `list`.
    pub filter: Option<(String, String)>,
    /// Check before a stop that this node's own instance is running (ClusterLabs'
    /// race check); off with `--skip-race-check`.
    pub race_check: bool,
    /// Bound of each API request.
    pub request_timeout: Duration,
    /// Extra CA certificates (PEM) to trust, from `AWS_CA_BUNDLE`.
    pub ca_bundle: Option<Vec<u8>>,
}

/// EC2 instances of one account and region.
pub struct Ec2Device {
    api: Client,
    metadata_client: Client,
    config: Config,
    settings: Settings,
    deadline: Deadline,
    log: AgentLog,
}

fn client(agent: &str, proxies: bool, ca_bundle: Option<&[u8]>) -> Result<Client, DeviceError> {
    let mut builder = Client::builder()
        .user_agent(format!("palisade-{agent}/{}", env!("CARGO_PKG_VERSION")))
        .redirect(Policy::none())
        .tls_built_in_root_certs(true)
        .timeout(None);
    if !proxies {
        builder = builder.no_proxy();
    }
    if let Some(pem) = ca_bundle {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            DeviceError::ConnectionLost(format!("AWS_CA_BUNDLE holds no usable certificate: {e}"))
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| DeviceError::ConnectionLost(format!("cannot set up the HTTPS client: {e}")))
}

impl Ec2Device {
    /// Build the clients; no network traffic yet.
    pub fn new(config: Config, settings: Settings, log: AgentLog) -> Result<Self, DeviceError> {
        let bundle = settings.ca_bundle.as_deref();
        Ok(Ec2Device {
            api: client("fence_aws", true, bundle)?,
            metadata_client: client("fence_aws", false, None)?,
            config,
            settings,
            deadline: Deadline::NONE,
            log,
        })
    }

    fn step(&self, limit: Duration) -> Result<Duration, DeviceError> {
        let t = self.deadline.bound(limit);
        if t.is_zero() {
            return Err(DeviceError::TimedOut("no time left for the request".into()));
        }
        Ok(t)
    }

    /// The credentials to sign with: configured ones, else the instance role's.
    fn credentials(&mut self) -> Result<Credentials, DeviceError> {
        if let Some(c) = &self.config.credentials {
            return Ok(c.clone());
        }
        let role = self.metadata("iam/security-credentials/")?;
        let role = role.lines().next().unwrap_or_default().trim().to_string();
        if role.is_empty() || role.contains('/') {
            return Err(DeviceError::LoginDenied(
                "no credentials: none given (--access-key/--secret-key, AWS_ACCESS_KEY_ID, a \
                 profile) and the instance has no role"
                    .into(),
            ));
        }
        let json = self.metadata(&format!("iam/security-credentials/{role}"))?;
        let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| {
            DeviceError::Protocol(format!("instance role credentials are not JSON ({e})"))
        })?;
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let creds = match (field("AccessKeyId"), field("SecretAccessKey")) {
            (Some(access_key), Some(secret_key)) => Credentials {
                access_key,
                secret_key,
                token: field("Token"),
            },
            _ => {
                return Err(DeviceError::Protocol(format!(
                    "the credentials of instance role {role} lack AccessKeyId/SecretAccessKey"
                )))
            }
        };
        self.log.log(
            Level::Debug,
            &format!("signing with the credentials of instance role {role}"),
        );
        self.config.credentials = Some(creds.clone());
        Ok(creds)
    }

    /// One signed EC2 call; the 2xx answer's body.
    fn call(&mut self, action: &str, body: String) -> Result<String, DeviceError> {
        let creds = self.credentials()?;
        let url = self.config.endpoint.clone();
        let host = host_header(&url);
        let headers = sigv4::sign(
            &creds,
            &self.config.region,
            "ec2",
            &host,
            &body,
            SystemTime::now(),
        );
        let timeout = self.step(self.settings.request_timeout)?;
        let origin = url.origin().ascii_serialization();
        let mut req = self
            .api
            .post(url.clone())
            .header("Content-Type", sigv4::CONTENT_TYPE)
            .timeout(timeout)
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let answer = req
            .send()
            .map_err(|e| transport_error(&e, action, url.as_str(), &origin, timeout))
            .and_then(|r| {
                let status = r.status().as_u16();
                read_body(r, action, url.as_str(), &origin, timeout).map(|b| (status, b))
            });
        let (status, text) = match answer {
            Ok(a) => a,
            Err(e) => {
                self.log.log(Level::Debug, &format!("{action} {url}: {e}"));
                return Err(e);
            }
        };
        self.log
            .log(Level::Debug, &format!("{action} {url} -> HTTP {status}"));
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            let mut err = ec2::error_of(action, status, &text);
            if let (DeviceError::LoginDenied(m), Source::Profile { file, profile }) =
                (&mut err, &self.config.source)
            {
                m.push_str(&format!(
                    " (credentials of profile {profile} in {})",
                    file.display()
                ));
            }
            Err(err)
        }
    }

    /// The instance `id`, or `None` when the account has no such instance.
    fn describe_one(&mut self, id: &str) -> Result<Option<Instance>, DeviceError> {
        let text = self.call("DescribeInstances", ec2::describe(&Select::Id(id), None))?;
        let page = ec2::parse_describe(&text)?;
        Ok(page.instances.into_iter().find(|i| i.id == id))
    }

    fn metadata_url(&self, path: &str) -> Result<Url, DeviceError> {
        let base = self.config.metadata.as_ref().ok_or_else(|| {
            DeviceError::Protocol(
                "the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)".into(),
            )
        })?;
        base.join(path)
            .map_err(|e| DeviceError::Protocol(format!("metadata path {path}: {e}")))
    }

    /// GET `/latest/meta-data/<path>` with an IMDSv2 token when the service gives one.
    fn metadata(&mut self, path: &str) -> Result<String, DeviceError> {
        let token_url = self.metadata_url("/latest/api/token")?;
        let origin = token_url.origin().ascii_serialization();
        let unreachable = |e: DeviceError| match e {
            DeviceError::ConnectionLost(m) | DeviceError::TimedOut(m) => {
                DeviceError::ConnectionLost(format!(
                    "the instance metadata service ({origin}) does not answer: {m}"
                ))
            }
            other => other,
        };
        let timeout = self.step(METADATA_STEP)?;
        let token = self
            .metadata_client
            .put(token_url.clone())
            .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
            .timeout(timeout)
            .send()
            .map_err(|e| transport_error(&e, "PUT", token_url.as_str(), &origin, timeout))
            .map_err(unreachable)?;
        let token = if token.status().is_success() {
            Some(read_body(
                token,
                "PUT",
                token_url.as_str(),
                &origin,
                timeout,
            )?)
        } else {
            None // IMDSv1 only
        };
        let url = self.metadata_url(&format!("/latest/meta-data/{path}"))?;
        let timeout = self.step(METADATA_STEP)?;
        let mut req = self.metadata_client.get(url.clone()).timeout(timeout);
        if let Some(t) = &token {
            req = req.header("X-aws-ec2-metadata-token", t.trim());
        }
        let answer = req
            .send()
            .map_err(|e| transport_error(&e, "GET", url.as_str(), &origin, timeout))
            .map_err(unreachable)?;
        let status = answer.status().as_u16();
        let body = read_body(answer, "GET", url.as_str(), &origin, timeout)?;
        if (200..300).contains(&status) {
            Ok(body.trim().to_string())
        } else {
            Err(DeviceError::Protocol(format!(
                "the instance metadata service answered HTTP {status} for {path}"
            )))
        }
    }

    /// ClusterLabs' race check: stop another instance only while our own runs (a node
    /// being stopped itself must not fence its peer in return).
    fn race_check(&mut self) -> Result<(), DeviceError> {
        let me = self.metadata("instance-id").map_err(|e| {
            DeviceError::Protocol(format!(
                "cannot learn this node's own instance id for the race check ({e}); \
                 --skip-race-check fences without it"
            ))
        })?;
        match self.describe_one(&me)? {
            Some(i) if i.state == "running" => Ok(()),
            found => Err(DeviceError::Protocol(format!(
                "not fencing: this node's own instance {me} is {} (the race check lets only \
                 a running node fence; --skip-race-check turns it off)",
                found.map_or_else(|| "unknown to EC2".to_string(), |i| i.state)
            ))),
        }
    }

    fn plug(plug: Option<&str>) -> Result<&str, DeviceError> {
        plug.filter(|p| !p.is_empty())
            .ok_or_else(|| DeviceError::NoSuchPlug(String::new()))
    }
}

impl PowerDevice for Ec2Device {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let id = Self::plug(plug)?;
        self.describe_one(id)?
            .ok_or_else(|| DeviceError::NoSuchPlug(id.to_string()))?
            .power()
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let id = Self::plug(plug)?;
        let (action, body) = match to {
            PowerState::Off => {
                if self.settings.race_check {
                    self.race_check()?;
                }
                ("StopInstances", ec2::stop(id))
            }
            PowerState::On => ("StartInstances", ec2::start(id)),
        };
        self.call(action, body)?;
        self.log
            .log(Level::Info, &format!("called {action} for {id}"));
        Ok(())
    }

    fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let filter = self.settings.filter.clone();
        let select = Select::Filter(filter.as_ref().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut plugs = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..ec2::MAX_PAGES {
            let text = self.call("DescribeInstances", ec2::describe(&select, next.as_deref()))?;
            let page = ec2::parse_describe(&text)?;
            plugs.extend(page.instances.into_iter().map(|i| Plug {
                id: i.id,
                alias: String::new(),
            }));
            next = page.next_token;
            if next.is_none() {
                return Ok(plugs);
            }
        }
        Err(DeviceError::Protocol(format!(
            "more than {} pages of instances; narrow the list with --filter",
            ec2::MAX_PAGES
        )))
    }
}
