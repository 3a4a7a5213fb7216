//! `fence_ipdu`: IBM iPDU outlets over SNMP v1, v2c or v3.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::ipdu::AGENT)
}
