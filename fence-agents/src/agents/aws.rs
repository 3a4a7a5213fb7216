//! `fence_aws`: EC2 instances through the AWS query API, with ClusterLabs' option names
//! and defaults (power_timeout 60; plugs are instance ids; `--filter name=value` narrows
//! `list`). The parts:
//!
//! - `sigv4`: request signing (Signature Version 4), pure.
//! - `ec2`: the DescribeInstances / StopInstances / StartInstances bodies and the XML
//!   answers, pure.
//! - `config`: region, credentials, endpoints from options, environment and profiles.
//! - `device`: [`Ec2Device`], the [`PowerDevice`] the framework drives.
//!
//! As ClusterLabs: off is StopInstances with Force, on is StartInstances, reboot is off
//! then on; before a stop the agent checks through the instance metadata service that
//! its own instance is running (the race check; `--skip-race-check`, the option newer
//! ClusterLabs releases have, turns it off). Differences: `--endpoint-url` (ours) points
//! the agent at another EC2 endpoint (boto3's `endpoint_url`; `AWS_ENDPOINT_URL_EC2` and
//! `AWS_ENDPOINT_URL` work too); an instance id the account does not have is "does not
//! exist"; a failed race check fails at once instead of waiting out power_timeout;
//! terminated instances read as off (ClusterLabs: unknown); pending / stopping /
//! shutting-down are "not yet" while a change is verified; `--boto3_debug` is accepted
//! and ignored (`-vv` traces every request).

mod config;
mod device;
mod ec2;
mod sigv4;

#[cfg(test)]
mod fuzz_tests;

use std::time::Duration;

pub use config::{resolve, Config, ConfigError};
pub use device::{Ec2Device, Settings};

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::log::AgentLog;
use crate::options::{self, OptionSpec};
use crate::params::{Params, UsageError};

const REGION: OptionSpec = OptionSpec::text("region", "[region]", "Region.").short('r');
const ACCESS_KEY: OptionSpec = OptionSpec::text("access_key", "[key]", "Access Key.")
    .short('a')
    .secret();
const SECRET_KEY: OptionSpec = OptionSpec::text("secret_key", "[key]", "Secret Key.")
    .short('s')
    .secret();
const FILTER: OptionSpec = OptionSpec::text(
    "filter",
    "[key=value]",
    "Filter for list-action (e.g. vpc-id=vpc-XXYYZZAA or tag:Name=node1)",
);
const BOTO3_DEBUG: OptionSpec = OptionSpec::text(
    "boto3_debug",
    "[option]",
    "Boto Lib debug (accepted for compatibility; -vv traces every request)",
)
.short('b')
.long("boto3_debug")
.default("False");
const ENDPOINT_URL: OptionSpec = OptionSpec::text(
    "endpoint_url",
    "[url]",
    "EC2 endpoint, http(s)://host[:port] (default: AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL, \
     else https://ec2.REGION.amazonaws.com)",
);
const SKIP_RACE_CHECK: OptionSpec = OptionSpec::flag(
    "skip_race_check",
    "Stop the instance without first checking that this node's own instance is running",
);

const OPTIONS: &[OptionSpec] = &[
    REGION,
    ACCESS_KEY,
    SECRET_KEY,
    FILTER,
    BOTO3_DEBUG,
    ENDPOINT_URL,
    SKIP_RACE_CHECK,
    options::PLUG,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
];

/// Largest `AWS_CA_BUNDLE` read.
const MAX_CA_BUNDLE: u64 = 4 * 1024 * 1024;

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_aws",
    shortdesc: "Fence agent for AWS (Amazon Web Services)",
    longdesc: "fence_aws is an I/O Fencing agent for AWS (Amazon Web Services). It speaks \
        the EC2 query API itself (Signature Version 4), without boto3.\n.P\nCredentials come \
        from --access-key/--secret-key, the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY \
        environment, the profile in ~/.aws/credentials (AWS_PROFILE) or the instance role; \
        the region from --region, AWS_DEFAULT_REGION or the profile. Off is a forced \
        StopInstances, on StartInstances; before a stop the agent checks that its own \
        instance is running (--skip-race-check skips that).",
    vendor_url: "http://www.amazon.com",
    variants: &[],
    options: OPTIONS,
    defaults: &[("power_timeout", "60")],
    default_action: "reboot",
    plugs: Plugs::Required { list: true },
    needs_address: false,
    needs_login: false,
    needs_password: false,
    can_cycle: false,
    can_diag: false,
    has_status: true,
    validate,
    connect,
};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn config(p: &Params) -> Result<Config, UsageError> {
    let option = |name: &str| p.text(name).map(str::to_string);
    resolve(&option, &env).map_err(|e| UsageError::Invalid(e.to_string()))
}

fn filter(p: &Params) -> Result<Option<(String, String)>, UsageError> {
    let Some(text) = p.text("filter") else {
        return Ok(None);
    };
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => {
            Ok(Some((k.trim().to_string(), v.trim().to_string())))
        }
        _ => Err(UsageError::Invalid(format!(
            "--filter {text:?} is not name=value (e.g. tag:Name=node1)"
        ))),
    }
}

fn validate(p: &Params) -> Result<(), UsageError> {
    config(p)?;
    filter(p)?;
    Ok(())
}

fn ca_bundle() -> Result<Option<Vec<u8>>, DeviceError> {
    use std::io::Read;
    let Some(path) = env("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let mut pem = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_CA_BUNDLE).read_to_end(&mut pem))
        .map_err(|e| DeviceError::ConnectionLost(format!("AWS_CA_BUNDLE {path}: {e}")))?;
    Ok(Some(pem))
}

/// Our own log for request tracing (the framework already opened the debug file).
fn request_log(p: &Params) -> AgentLog {
    let mut log = AgentLog::with_verbosity(p.quiet, p.verbose);
    if let Some(path) = p.text("debug_file") {
        let _ = log.open_debug_file(path);
    }
    log
}

fn connect(p: &Params, _deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let usage = |e: UsageError| DeviceError::Protocol(e.to_string());
    let timing = p.timing;
    let settings = Settings {
        filter: filter(p).map_err(usage)?,
        race_check: !p.flag("skip_race_check"),
        request_timeout: timing
            .login_timeout
            .max(timing.shell_timeout)
            .max(Duration::from_secs(1)),
        ca_bundle: ca_bundle()?,
    };
    let device = Ec2Device::new(config(p).map_err(usage)?, settings, request_log(p))?;
    Ok(Box::new(device))
}
