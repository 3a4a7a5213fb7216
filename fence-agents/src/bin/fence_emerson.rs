//! `fence_emerson`: Emerson MPX/MPH2 rack PDU receptacles over SNMP v1, v2c or v3.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::emerson::AGENT)
}
