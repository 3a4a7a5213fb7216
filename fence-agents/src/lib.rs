//! ClusterLabs-compatible fence agents over one shared framework.
//!
//! An agent declares its options and how to reach its device ([`agent::Agent`]); the
//! framework does the rest the way ClusterLabs' `fencing.py` does it.
//!
//! Module map:
//! - [`device`]: the `PowerDevice` trait each device family implements, `Deadline`, `DeviceError`.
//! - [`options`]: the option table (names, aliases, defaults, metadata order).
//! - [`args`]: argv (getopt style) and stdin (`name=value`) parsing.
//! - [`params`]: typed, validated options; the action; timing; usage errors.
//! - [`agent`]: what one agent declares (options, plugs, capabilities, connect).
//! - [`action`]: the on/off/reboot/status/list/monitor sequences over a `PowerDevice`.
//! - [`metadata`]: metadata XML and `--help` from the option table.
//! - [`log`]: ClusterLabs-style log records on stderr and `--debug-file`.
//! - [`run`]: one run from argv/stdin to exit status; the one place outcomes become exit codes.
//! - [`cli`]: device command lines over SSH or telnet (one dialogue per device, either
//!   transport; native telnet client).
//! - [`ssh`]: SSH sessions (libssh2), known_hosts, `--ssh-options`, prompt shells for SSH agents.
//! - [`icmp`]: ICMP echo probes (datagram or raw socket) for the ping heuristics agent.
//! - [`snmp`]: native SNMP manager (BER, v1/v2c/v3 USM, GET/SET/WALK) for the SNMP agents.
//! - [`agents`]: one module per device family (IPMI, ...), each a `PowerDevice` plus its option table.
pub mod action;
pub mod agent;
pub mod agents;
pub mod args;
pub mod cli;
pub mod device;
pub mod icmp;
pub mod log;
pub mod metadata;
pub mod options;
pub mod params;
pub mod run;
pub mod snmp;
pub mod ssh;

pub use device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
