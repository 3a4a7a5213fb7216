//! `palisade` command line (thin: everything is in [`palisade::cli`]).
use std::process::ExitCode;

use palisade::exit::Exit;

fn main() -> ExitCode {
    // Arguments are read as bytes: one that is not UTF-8 is a usage error, not an abort.
    let mut words = Vec::new();
    for (n, arg) in std::env::args_os().enumerate() {
        match arg.into_string() {
            Ok(word) => words.push(word),
            Err(bad) if n == 0 => words.push(bad.to_string_lossy().into_owned()),
            Err(bad) => {
                eprintln!(
                    "palisade: argument {n} is not valid UTF-8: {:?}",
                    bad.to_string_lossy()
                );
                return Exit::Usage.into();
            }
        }
    }
    let argv0 = words.first().cloned().unwrap_or_default();
    let args = words.get(1..).unwrap_or_default().to_vec();
    // Run as `crm_attribute` / `crm_master` by an agent of a promotable clone.
    if let Some(program) = palisade::node::attributes::is_shim(&argv0) {
        return palisade::node::attributes::shim_main(program, &args);
    }
    if args.first().map(String::as_str) == Some("node") {
        return palisade::node::main(&args[1..]);
    }
    palisade::cli::main(&args).into()
}
