//! `fence_heuristics_ping`: a fencing level's gate that passes only while this node
//! reaches its ping targets.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::heuristics_ping::AGENT)
}
