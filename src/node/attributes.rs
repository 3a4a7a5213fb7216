//! Promotion scores from resource agents: palisade's own `crm_attribute --promotion`
//! and `crm_master`, the tools an OCF agent of a promotable clone calls to say how much
//! its instance wants to be promoted (`crm_attribute --promotion -v 10`, `-D` on stop,
//! `-G -q` to read it back). Pacemaker keeps the score in its attribute daemon; here the
//! agent of a promotable clone runs with `HA_SBIN_DIR` (and `PATH`) naming a directory
//! of the node daemon's ([`setup`]) whose `crm_attribute` and `crm_master` are links to
//! the `palisade` binary, which then acts as this shim ([`shim_main`]): it keeps the
//! score in one file per instance in the directory `$PALISADE_PROMOTION_SCORES`. The
//! resource actor reads the file after each operation; the node daemon publishes the
//! score as the node attribute `master-CHILD` in its report, where the scheduler reads it
//! (the instance with the best score is promoted).
//!
//! Only promotion scores are kept (`--promotion`, or `crm_master`); any other attribute
//! is refused with exit code 3, so an agent relying on them sees a failure, not silence.

use std::path::{Path, PathBuf};

use crate::exit::Exit;

/// The environment variable naming the directory of score files.
pub const SCORES_ENV: &str = "PALISADE_PROMOTION_SCORES";
/// The programs the shim answers as (argv[0]).
pub const SHIM_NAMES: [&str; 2] = ["crm_attribute", "crm_master"];

/// What the agent asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShimCommand {
    /// Set the score.
    Update(String),
    /// Delete it.
    Delete,
    /// Print it (`-q`: the value alone).
    Query {
        /// Only the value.
        quiet: bool,
    },
}

/// A parsed shim command line: what, and for which instance (None: the agent's
/// `OCF_RESOURCE_INSTANCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimCall {
    /// The command.
    pub command: ShimCommand,
    /// `--promotion=RSC` or `-r RSC`.
    pub resource: Option<String>,
    /// `-N NODE`, when given.
    pub node: Option<String>,
}

/// Parse the arguments of `crm_attribute` or `crm_master` (`program`).
pub fn parse_shim(program: &str, args: &[String]) -> Result<ShimCall, String> {
    let mut promotion = program == "crm_master";
    let mut command = None;
    let mut quiet = false;
    let mut resource = None;
    let mut node = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ if arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("--") => {
                (arg[..2].to_string(), Some(arg[2..].to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-p" | "--promotion" => {
                promotion = true;
                if let Some(r) = &inline {
                    resource = Some(r.clone());
                }
            }
            "-v" | "--update" | "--attr-value" => {
                command = Some(ShimCommand::Update(value(&flag)?.trim().to_string()))
            }
            "-D" | "--delete" | "--delete-attr" => command = Some(ShimCommand::Delete),
            "-G" | "--query" | "--get-value" => command = Some(ShimCommand::Query { quiet }),
            "-q" | "--quiet" | "-Q" => quiet = true,
            "-r" | "--resource" => resource = Some(value(&flag)?),
            "-N" | "--node" | "-U" | "--uname" => node = Some(value(&flag)?),
            // Lifetime, scope, name, id: promotion scores have one meaning here.
            "-l" | "--lifetime" | "-t" | "--type" | "-n" | "--name" | "-i" | "--id" => {
                value(&flag)?;
            }
            "-V" | "--verbose" => {}
            other => return Err(format!("unsupported argument '{other}'")),
        }
    }
    if !promotion {
        return Err(
            "only promotion scores (--promotion) are kept by palisade; other node attributes are not supported"
                .into(),
        );
    }
    let command = match command.ok_or("nothing to do: give -v VALUE, -D or -G")? {
        ShimCommand::Query { .. } => ShimCommand::Query { quiet },
        c => c,
    };
    Ok(ShimCall {
        command,
        resource,
        node,
    })
}

/// The score file of `instance` in `dir` (None for a name that is not a plain file
/// name).
pub fn score_file(dir: &Path, instance: &str) -> Option<PathBuf> {
    let plain = !instance.is_empty()
        && !instance.starts_with('.')
        && !instance.contains('/')
        && !instance.contains('\0');
    plain.then(|| dir.join(instance))
}

/// The score in `file` (None: no file, or empty).
pub fn read_score(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let value = text.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Write `value` to `file` atomically (None: delete it).
pub fn write_score(file: &Path, value: Option<&str>) -> std::io::Result<()> {
    match value {
        None => match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        Some(v) => {
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, format!("{v}\n"))?;
            std::fs::rename(&tmp, file)
        }
    }
}

/// The directories of the shim for node `node` of cluster `cluster`: `sbin` (links
/// named [`SHIM_NAMES`] to `program`, the palisade binary) and `scores` (emptied: a
/// score lives as long as the daemon, as pacemaker's reboot-lifetime attributes).
pub fn setup(
    state_dir: &Path,
    cluster: u32,
    node: &str,
    program: &Path,
) -> std::io::Result<super::resources::PromotionDirs> {
    let base = state_dir.join(format!("cluster-{cluster}-{node}.agents"));
    let sbin = base.join("sbin");
    let scores = base.join("scores");
    std::fs::create_dir_all(&sbin)?;
    if scores.exists() {
        std::fs::remove_dir_all(&scores)?;
    }
    std::fs::create_dir_all(&scores)?;
    for name in SHIM_NAMES {
        let link = sbin.join(name);
        match std::fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::os::unix::fs::symlink(program, &link)?;
    }
    Ok(super::resources::PromotionDirs { sbin, scores })
}

/// Whether argv[0] names the shim (`crm_attribute` or `crm_master`).
pub fn is_shim(argv0: &str) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    SHIM_NAMES.into_iter().find(|n| *n == name)
}

/// Run as the shim `program` with `args` (the environment is the agent's).
pub fn shim_main(program: &str, args: &[String]) -> Exit {
    let call = match parse_shim(program, args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{program} (palisade): {e}");
            return Exit::Unsupported;
        }
    };
    let Some(dir) = std::env::var_os(SCORES_ENV).map(PathBuf::from) else {
        eprintln!("{program} (palisade): not run by palisade node (no ${SCORES_ENV})");
        return Exit::Failed;
    };
    let local = std::env::var("OCF_RESKEY_CRM_meta_on_node").ok();
    if let (Some(n), Some(me)) = (&call.node, &local) {
        if n != me {
            eprintln!("{program} (palisade): only this node's ({me}) scores are kept, not {n}'s");
            return Exit::Unsupported;
        }
    }
    let instance = call
        .resource
        .clone()
        .or_else(|| std::env::var("OCF_RESOURCE_INSTANCE").ok())
        .unwrap_or_default();
    let Some(file) = score_file(&dir, &instance) else {
        eprintln!("{program} (palisade): no resource instance (OCF_RESOURCE_INSTANCE)");
        return Exit::Failed;
    };
    let written = match &call.command {
        ShimCommand::Update(v) => write_score(&file, Some(v)),
        ShimCommand::Delete => write_score(&file, None),
        ShimCommand::Query { quiet } => {
            return match read_score(&file) {
                Some(v) if *quiet => {
                    println!("{v}");
                    Exit::Success
                }
                Some(v) => {
                    println!("scope=status  name=master-{instance} value={v}");
                    Exit::Success
                }
                None => {
                    eprintln!("Error performing operation: No such device or address");
                    Exit::NoSuchAttribute
                }
            };
        }
    };
    match written {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("{program} (palisade): {}: {e}", file.display());
            Exit::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_calls_agents_make_are_understood() {
        let call = |p: &str, w: &[&str]| parse_shim(p, &args(w)).map(|c| c.command);
        // ocf:pacemaker:Stateful
        assert_eq!(
            call("crm_attribute", &["--promotion", "-v", "5"]),
            Ok(ShimCommand::Update("5".into()))
        );
        assert_eq!(
            call("crm_attribute", &["--promotion", "-D"]),
            Ok(ShimCommand::Delete)
        );
        // ocf_promotion_score / crm_master (drbd, pgsql)
        assert_eq!(
            call("crm_master", &["-l", "reboot", "-v", "100"]),
            Ok(ShimCommand::Update("100".into()))
        );
        assert_eq!(
            call("crm_master", &["-Q", "-l", "reboot", "-G"]),
            Ok(ShimCommand::Query { quiet: true })
        );
        assert_eq!(
            call("crm_attribute", &["-p", "-G", "-q"]),
            Ok(ShimCommand::Query { quiet: true })
        );
        assert_eq!(
            call("crm_attribute", &["--promotion", "--update=-INFINITY"]),
            Ok(ShimCommand::Update("-INFINITY".into()))
        );
        let c = parse_shim(
            "crm_attribute",
            &args(&["--promotion=db:1", "-N", "n1", "-v10"]),
        )
        .expect("call");
        assert_eq!(c.resource.as_deref(), Some("db:1"));
        assert_eq!(c.node.as_deref(), Some("n1"));
        assert_eq!(c.command, ShimCommand::Update("10".into()));
    }

    #[test]
    fn other_attributes_and_bad_lines_are_refused() {
        let e = |p: &str, w: &[&str]| parse_shim(p, &args(w)).expect_err("refused");
        assert!(e("crm_attribute", &["-n", "pingd", "-v", "1"]).contains("only promotion"));
        assert!(e("crm_attribute", &["--promotion"]).contains("nothing to do"));
        assert!(e("crm_master", &["-v"]).contains("needs a value"));
        assert!(e("crm_master", &["--bogus", "-D"]).contains("unsupported"));
    }

    #[test]
    fn scores_live_in_one_file_per_instance() {
        let dir = std::env::temp_dir().join(format!("palisade-scores-{}", std::process::id()));
        let program = std::env::temp_dir().join("palisade-fake-binary");
        let dirs = setup(&dir, 3, "node1", &program).expect("setup");
        for name in SHIM_NAMES {
            let target = std::fs::read_link(dirs.sbin.join(name)).expect("link");
            assert_eq!(target, program);
        }
        let file = score_file(&dirs.scores, "state").expect("file");
        assert_eq!(read_score(&file), None);
        write_score(&file, Some("10")).expect("write");
        assert_eq!(read_score(&file).as_deref(), Some("10"));
        write_score(&file, None).expect("delete");
        write_score(&file, None).expect("delete again");
        assert_eq!(read_score(&file), None);
        write_score(&file, Some("5")).expect("write");
        // A new daemon starts without the old scores; the links are made again.
        let dirs = setup(&dir, 3, "node1", &program).expect("setup again");
        assert_eq!(read_score(&dirs.scores.join("state")), None);
        assert_eq!(score_file(&dirs.scores, "../x"), None);
        assert_eq!(score_file(&dirs.scores, ".hidden"), None);
        assert_eq!(is_shim("/x/sbin/crm_master"), Some("crm_master"));
        assert_eq!(is_shim("palisade"), None);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
