//! `fence_sbd`: poison-pill fencing over sbd shared devices.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::sbd::AGENT)
}
