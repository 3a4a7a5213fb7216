//! `fence_dummy`: a device that is a file holding `on` or `off` (ClusterLabs' test agent,
//! same options). `--type=fail` makes every device operation fail, for testing fallback
//! in fencing topologies. Used by palisade's own fencer and pacemaker tests.

use std::time::Duration;

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice, PowerState};
use crate::options::{Kind, OptionSpec};
use crate::params::{Params, UsageError};

const STATUS_FILE: OptionSpec = OptionSpec::text("status_file", "[file]", "File with status")
    .default("/tmp/fence_dummy.status");
const RANDOM_SLEEP_RANGE: OptionSpec = OptionSpec::text(
    "random_sleep_range",
    "[seconds]",
    "Issue a sleep between 1 and X seconds. Used for testing.",
)
.long("random_sleep_range");
const TYPE: OptionSpec = OptionSpec::text("type", "[type]", "Type of the dummy fence agent")
    .kind(Kind::Select(&["file", "fail"]))
    .default("file");

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_dummy",
    shortdesc: "Dummy fence agent",
    longdesc: "fence_dummy keeps the power state of one pretend node in a file. It is \
        meant for testing fencing configurations, never for production.",
    vendor_url: "http://www.example.com",
    variants: &[],
    options: &[
        RANDOM_SLEEP_RANGE,
        STATUS_FILE,
        TYPE,
        crate::options::PLUG_SEPARATOR,
    ],
    defaults: &[],
    default_action: "reboot",
    plugs: Plugs::None,
    needs_address: false,
    needs_login: false,
    needs_password: false,
    can_cycle: false,
    can_diag: false,
    has_status: true,
    validate,
    connect,
};

fn validate(p: &Params) -> Result<(), UsageError> {
    if let Some(r) = p.text("random_sleep_range") {
        r.trim().parse::<u32>().map_err(|_| {
            UsageError::Invalid(format!(
                "--random_sleep_range must be whole seconds, not '{r}'"
            ))
        })?;
    }
    Ok(())
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    if let Some(range) = p
        .text("random_sleep_range")
        .and_then(|r| r.trim().parse::<u64>().ok())
    {
        if range >= 1 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos() as u64;
            let secs = 1 + nanos % range;
            std::thread::sleep(deadline.bound(Duration::from_secs(secs)));
        }
    }
    Ok(Box::new(DummyDevice {
        file: p
            .text("status_file")
            .unwrap_or("/tmp/fence_dummy.status")
            .into(),
        fail: p.text("type") == Some("fail"),
    }))
}

/// The pretend node: its power state lives in `file`.
pub struct DummyDevice {
    pub file: std::path::PathBuf,
    pub fail: bool,
}

impl PowerDevice for DummyDevice {
    fn power_status(&mut self, _plug: Option<&str>) -> Result<PowerState, DeviceError> {
        if self.fail {
            return Err(DeviceError::ConnectionLost(
                "fence_dummy --type=fail".into(),
            ));
        }
        let text = std::fs::read_to_string(&self.file).map_err(|e| {
            DeviceError::ConnectionLost(format!("cannot read {}: {e}", self.file.display()))
        })?;
        match text.trim() {
            "on" => Ok(PowerState::On),
            "off" => Ok(PowerState::Off),
            other => Err(DeviceError::Protocol(format!(
                "{} holds {other:?}, not on/off",
                self.file.display()
            ))),
        }
    }

    fn set_power(&mut self, _plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        if self.fail {
            return Err(DeviceError::ConnectionLost(
                "fence_dummy --type=fail".into(),
            ));
        }
        let word = match to {
            PowerState::On => "on",
            PowerState::Off => "off",
        };
        std::fs::write(&self.file, word).map_err(|e| {
            DeviceError::ConnectionLost(format!("cannot write {}: {e}", self.file.display()))
        })
    }
}
