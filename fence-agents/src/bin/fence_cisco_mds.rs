//! `fence_cisco_mds`: Fibre Channel ports of Cisco MDS switches over SNMP (fabric fencing).
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::cisco_mds::AGENT)
}
