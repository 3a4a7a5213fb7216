//! `palisade` command line (thin: everything is in [`palisade::cli`]).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("node") {
        return palisade::node::main(&args[1..]);
    }
    palisade::cli::main(&args).into()
}
