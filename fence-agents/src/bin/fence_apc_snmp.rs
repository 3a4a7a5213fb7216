//! `fence_apc_snmp` (also installed as fence_tripplite_snmp): APC / Tripp Lite PDU
//! outlets over SNMP v1, v2c or v3.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::apc_snmp::AGENT)
}
