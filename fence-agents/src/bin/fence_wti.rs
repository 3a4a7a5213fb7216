//! `fence_wti`: WTI network power switches through their command line, over telnet or SSH.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::wti::AGENT)
}
