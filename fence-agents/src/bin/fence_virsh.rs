//! `fence_virsh`: libvirt domains fenced through `virsh` on their host, over SSH.
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::virsh::AGENT)
}
