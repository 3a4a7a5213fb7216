//! What one agent declares: its names, descriptions, option table and defaults, whether
//! it has plugs, what its device can do, and how to connect to the device. Everything
//! else — parsing, sequences, metadata, exit codes — is the framework's.

use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::options::{OptionSpec, UNIVERSAL};
use crate::params::{Params, UsageError};

/// How an agent addresses what it powers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugs {
    /// One device = one node (IPMI, Redfish); `--plug` only as the address with
    /// `--port-as-ip`.
    None,
    /// One device = one node for power (like `None`), but `list` enumerates the systems
    /// the device manages (a Redfish service with several systems).
    Systems,
    /// A device with outlets/ports/VMs; `--plug` is required for power actions.
    /// `list` says whether the device can enumerate them.
    Required { list: bool },
    /// One node, or one of several the device manages (a DRAC CMC's server modules):
    /// `--plug` names it when there are several and is not required; `list`
    /// enumerates them. Metadata marks the plug required, as ClusterLabs does.
    Optional,
}

/// Another name the agent is installed under (ClusterLabs symlinks), with its own
/// defaults (e.g. `fence_ilo3` turns lanplus on).
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub name: &'static str,
    pub shortdesc: &'static str,
    pub defaults: &'static [(&'static str, &'static str)],
}

/// Connect to the device named by the options; every network step must end by `deadline`.
pub type Connect = fn(&Params, Deadline) -> Result<Box<dyn PowerDevice>, DeviceError>;

/// Extra agent-specific validation.
pub type Validate = fn(&Params) -> Result<(), UsageError>;

/// No extra validation.
pub fn no_validation(_: &Params) -> Result<(), UsageError> {
    Ok(())
}

/// One fence agent.
#[derive(Clone, Copy)]
pub struct Agent {
    pub name: &'static str,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
    pub vendor_url: &'static str,
    pub variants: &'static [Variant],
    /// The agent's own options plus the common ones it uses (address, login, plug...).
    /// Logging, help, version and timing options are added by the framework.
    pub options: &'static [OptionSpec],
    /// Defaults that differ from the common table (`power_wait` 2 for ipmilan...).
    pub defaults: &'static [(&'static str, &'static str)],
    /// Action when none is given: reboot, or off for fabric agents.
    pub default_action: &'static str,
    pub plugs: Plugs,
    pub needs_address: bool,
    pub needs_login: bool,
    pub needs_password: bool,
    /// `--method cycle` and action `diag` are available.
    pub can_cycle: bool,
    pub can_diag: bool,
    /// The device can read power (false = ClusterLabs' `no_status`, e.g. a heuristics
    /// agent): on/off are one synchronous command each whose success is the result, with
    /// no status read before or after; the agent has no status/list actions, and monitor
    /// succeeds without contacting anything.
    pub has_status: bool,
    pub validate: Validate,
    pub connect: Connect,
}

impl Agent {
    /// The agent as invoked under `name` (argv[0]'s file name): the base agent, or one
    /// of its variants with that variant's defaults.
    pub fn invoked_as(&self, name: &str) -> Invocation {
        let variant = self.variants.iter().find(|v| v.name == name).copied();
        Invocation {
            agent: *self,
            variant,
        }
    }
}

/// An agent under the name it was called by.
#[derive(Clone, Copy)]
pub struct Invocation {
    pub agent: Agent,
    pub variant: Option<Variant>,
}

impl Invocation {
    /// The name to print (`fence_ipmilan`, or `fence_ilo3`).
    pub fn name(&self) -> &'static str {
        self.variant.map_or(self.agent.name, |v| v.name)
    }

    pub fn shortdesc(&self) -> &'static str {
        self.variant.map_or(self.agent.shortdesc, |v| v.shortdesc)
    }

    /// Every option this invocation accepts, agent options first (their short letters
    /// win over a common option's), with the effective defaults.
    pub fn options(&self) -> Vec<OptionSpec> {
        let mut all: Vec<OptionSpec> = Vec::new();
        for spec in self.agent.options.iter().chain(UNIVERSAL) {
            if all.iter().any(|s| s.name == spec.name) {
                continue;
            }
            let mut spec = *spec;
            if let Some(c) = spec.short {
                if all.iter().any(|s| s.short == Some(c)) {
                    spec.short = None;
                }
            }
            // Required as ClusterLabs marks them: the address when it cannot come
            // from --port-as-ip, the login when the agent needs one, the plug of a
            // plug-based agent.
            match spec.name {
                "action" => spec.default = Some(self.agent.default_action),
                "ip" => {
                    spec.required |= self.agent.needs_address
                        && matches!(self.agent.plugs, Plugs::Required { .. } | Plugs::Optional)
                }
                "username" => spec.required |= self.agent.needs_login,
                "plug" => {
                    spec.required |=
                        matches!(self.agent.plugs, Plugs::Required { .. } | Plugs::Optional)
                }
                _ => {}
            }
            let overrides = self
                .agent
                .defaults
                .iter()
                .chain(self.variant.map_or(&[][..], |v| v.defaults));
            for (name, value) in overrides {
                if *name == spec.name {
                    spec.default = Some(value);
                }
            }
            all.push(spec);
        }
        all
    }
}
