//! `fence_aws`: EC2 instances through the AWS query API (SigV4, no boto3).
fn main() -> std::process::ExitCode {
    fence_agents::run::main(&fence_agents::agents::aws::AGENT)
}
