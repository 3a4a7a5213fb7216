//! The cluster core's decision logic, pure: membership from heartbeats, quorum, and
//! fence-before-failover placement. Drivers (UDP heartbeats with HMAC, the fencer API,
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
//! - [`failover`]: who fences whom (coordinator, two-node race delay, retries), and
//!   where resources start — never before the lost node is confirmed fenced.
pub mod challenge;
pub mod disk_claim;
pub mod failover;
pub mod membership;
pub mod packet;
pub mod quorum;
