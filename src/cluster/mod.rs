//! The cluster core's decision logic, pure: membership from heartbeats, quorum, the
//! tie-breaker disk claim and the heartbeat wire format (the node's own decisions, fencing
//! among them, are the node machine's: [`crate::node::machine`]). Drivers (UDP heartbeats with HMAC, the fencer API,
//! resource agents) feed events in and carry decisions out; nothing here does I/O.
//!
//! Module map:
//! - [`membership`]: heartbeat timers (keepalive/warntime/deadtime/initdead), replay
//!   protection, who is alive.
//! - [`challenge`]: proof of liveness on first contact (a fresh nonce the peer must
//!   echo), so recorded heartbeats never make a peer count as alive.
//! - [`packet`]: heartbeat wire format, HMAC-SHA256 authenticated.
//! - [`quorum`]: votes, two_node + wait_for_all, tie-breakers, no-quorum-policy.
//! - [`disk_claim`]: the sbd-disk tie-breaker claim (last writer wins, renewed holds).
pub mod challenge;
pub mod disk_claim;
pub mod membership;
pub mod packet;
pub mod quorum;
