//! `fence_xvm`: virtual machines through fence_virtd's multicast listener.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::xvm::AGENT)
}
