//! `fence_dummy`: the test agent whose "node" is a status file.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::dummy::AGENT)
}
