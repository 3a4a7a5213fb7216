//! `fence_rsa`: IBM RSA II adapters through their command line, over telnet or SSH.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::rsa::AGENT)
}
