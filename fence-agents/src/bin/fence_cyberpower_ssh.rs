//! `fence_cyberpower_ssh`: CyberPower PDUs through their SSH command line.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::cyberpower::AGENT)
}
