//! `palisade` command line (thin: everything is in [`palisade::cli`]).
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    palisade::cli::main(&args).into()
}
