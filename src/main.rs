//! `palisade` command line (thin: everything is in [`palisade::cli`]).
use std::process::ExitCode;

fn main() -> ExitCode {
    // Run as `crm_attribute` / `crm_master` by an agent of a promotable clone.
    let argv0 = std::env::args().next().unwrap_or_default();
    if let Some(program) = palisade::node::attributes::is_shim(&argv0) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        return palisade::node::attributes::shim_main(program, &args);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("node") {
        return palisade::node::main(&args[1..]);
    }
    palisade::cli::main(&args).into()
}
