//! `fence_ifmib`: fabric fencing of switch ports through IF-MIB ifAdminStatus over SNMP.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::ifmib::AGENT)
}
