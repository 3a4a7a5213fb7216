//! `fence_intelmodular`: Intel Modular Server blades over SNMP v1, v2c or v3.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::intelmodular::AGENT)
}
