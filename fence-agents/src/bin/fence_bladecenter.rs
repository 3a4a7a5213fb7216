//! `fence_bladecenter`: IBM BladeCenter blades through the management module's command
//! line, over telnet or SSH.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::bladecenter::AGENT)
}
