//! The fencer's client: the IPC layer's blocking client ([`crate::ipc::client`]) speaking
//! [`FencerApi`]; its `call` returns the JSON `result` (use `call_as` for a typed one).

use super::protocol::FencerApi;

pub use crate::ipc::client::ClientError;

/// One connection to the fencer.
pub type Client = crate::ipc::client::Client<FencerApi>;
