//! `palisade-sbd`: the sbd(8) commands (create, dump, list, allocate, message, ping,
//! watch, query-watchdog, test-watchdog).
//! All logic lives in [`sbd::cli`]; this only hands over the exit code.

fn main() {
    std::process::exit(sbd::cli::main_from_env());
}
