//! `fence_ilo_ssh` (also installed as fence_ilo3_ssh, fence_ilo4_ssh, fence_ilo5_ssh):
//! HP iLO through its SSH command line.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::ilo_ssh::AGENT)
}
