//! `fence_redfish`: fencing through a BMC's Redfish API (see `agents::redfish`).
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::redfish::AGENT)
}
