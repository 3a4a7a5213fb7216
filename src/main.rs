//! `palisade` command line (thin: everything is in [`palisade::cli`]).
use std::process::ExitCode;

use palisade::exit::Exit;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv0 = argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Run as `crm_attribute` / `crm_master` by an agent of a promotable clone: that
    // tool's own command line.
    if let Some(program) = palisade::node::attributes::is_shim(&argv0) {
        let mut args = Vec::new();
        for (n, arg) in argv.into_iter().enumerate().skip(1) {
            match arg.into_string() {
                Ok(word) => args.push(word),
                Err(bad) => {
                    eprintln!(
                        "{program} (palisade): argument {n} is not valid UTF-8: {:?}",
                        bad.to_string_lossy()
                    );
                    return Exit::Usage.into();
                }
            }
        }
        return palisade::node::attributes::shim_main(program, &args).into();
    }
    palisade::cli::main(argv).into()
}
