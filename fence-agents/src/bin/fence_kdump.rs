//! `fence_kdump`: waits for a crashed node's kdump kernel to report that it is dumping.
fn main() -> std::process::ExitCode {
    fence_agents::agents::kdump::main()
}
