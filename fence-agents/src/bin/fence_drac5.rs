//! `fence_drac5`: Dell DRAC 5 / CMC / DRAC/MC through racadm, over telnet or SSH.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::drac5::AGENT)
}
