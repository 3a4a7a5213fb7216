//! `fence_ipmilan` (also installed as fence_ipmilanplus, fence_ilo3/4/5, fence_imm,
//! fence_idrac: the name it is called by picks the defaults).
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::ipmilan::AGENT)
}
