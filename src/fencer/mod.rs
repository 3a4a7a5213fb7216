//! The fencer: devices, topology, targeting, the operation state machine, the agent
//! executor and the history journal.
//!
//! Pure (no I/O, driven by the caller with a [`duration::Moment`]):
//! - [`agent_input`]: what may reach an agent's stdin (no control characters, plain
//!   names) and the one writer of that text.
//! - [`duration`]: time spans as pacemaker writes them; the fencer's clock type.
//! - [`hostmap`]: `pcmk_host_list`, `pcmk_host_map`, per-node `pcmk_delay_base`.
//! - [`device`]: one device: agent, stdin parameters, `pcmk_*` steering parameters.
//! - [`topology`]: levels 1-9 per target by name, pattern or attribute.
//! - [`operation`]: requests, ids and results shared with the daemon and the API.
//! - [`config`]: the TOML configuration.
//! - [`targeting`]: which devices can fence a target (`pcmk_host_check`, `list` output).
//! - [`plan`]: levels and steps for one operation (reboot remapped to off + on).
//! - [`health`]: device health: when each `monitor` is due (jittered, bounded
//!   concurrency), healthy / failing / unknown, which targets can still be fenced.
//! - [`dryrun`]: dry-run fencing: probe actions (never a power action), per-level
//!   verdicts and the worst-case time of a real fence.
//! - [`machine`]: the state machine `handle(event, now) -> actions`: merging, targeting,
//!   levels, retries, timeouts, delays, device concurrency.
//!
//! I/O:
//! - [`executor`]: run a `fence_*` agent as pacemaker-fenced does (stdin, process group,
//!   SIGKILL at the timeout).
//! - [`history`]: the append-only, fsynced fence history journal and its queries.
pub mod agent_input;
pub mod config;
pub mod device;
pub mod dryrun;
pub mod duration;
pub mod executor;
pub mod health;
pub mod history;
pub mod hostmap;
pub mod machine;
pub mod operation;
pub mod plan;
pub mod targeting;
pub mod topology;
