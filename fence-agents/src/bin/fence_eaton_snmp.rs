//! `fence_eaton_snmp`: Eaton Managed and Switched ePDU outlets over SNMP v1, v2c or v3.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::eaton_snmp::AGENT)
}
