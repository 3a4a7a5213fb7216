//! `fence_lindypdu`: Lindy PDU outlets over SNMP v1, v2c or v3.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::lindypdu::AGENT)
}
