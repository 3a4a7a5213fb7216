//! `fence_virt`: virtual machines through fence_virtd's TCP listener.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::xvm::VIRT_AGENT)
}
