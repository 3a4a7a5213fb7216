//! `fence_hpblade`: HP BladeSystem blades and Superdome X partitions through the Onboard
//! Administrator's command line, over telnet or SSH.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::hpblade::AGENT)
}
