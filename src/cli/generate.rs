//! `palisade generate`: shell completions and man pages built from the command line's
//! definition ([`super::definition`]), for a package to install
//! (`palisade generate completions bash > palisade.bash`, `palisade generate man DIR`:
//! `palisade.1` and one page per command, e.g. `palisade-fence.1`). Hidden from the help.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::definition::{Cli, Generate};
use crate::exit::Exit;

/// The completion script of `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "palisade", &mut out);
    out
}

/// Write the man pages into `dir` (which must exist).
pub fn man_pages(dir: &Path) -> std::io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
}

/// Run `palisade generate ...`.
pub fn run(what: &Generate) -> Exit {
    match what {
        Generate::Completions { shell } => {
            use std::io::Write as _;
            let script = completions(*shell);
            match std::io::stdout().write_all(&script) {
                Ok(()) => Exit::Success,
                Err(e) => {
                    eprintln!("palisade generate: cannot write the completions: {e}");
                    Exit::Failed
                }
            }
        }
        Generate::Man { dir } => match man_pages(dir) {
            Ok(()) => Exit::Success,
            Err(e) => {
                eprintln!(
                    "palisade generate: cannot write man pages into {}: {e}",
                    dir.display()
                );
                Exit::Failed
            }
        },
    }
}
