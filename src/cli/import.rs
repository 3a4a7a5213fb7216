//! `palisade import`: convert heartbeat's ha.cf, haresources and authkeys into a palisade
//! node configuration (printed as TOML on stdout; `--addresses 'NODE=IP[,IP] ...'` gives
//! each node's ring addresses) and, with `--key-out`, write the derived HMAC-SHA256
//! cluster key, which the configuration then names. Warnings go to stderr.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::args::Args;
use crate::exit::Exit;
use crate::import::{import, Sources};

fn read(path: &str) -> Result<String, Exit> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("palisade import: cannot read {path}: {e}");
        Exit::Config
    })
}

/// The file given, or heartbeat's default location when it exists there.
fn optional(args: &Args, name: &str, default: &str) -> Result<Option<(String, String)>, Exit> {
    match args.option(name) {
        Some(path) => Ok(Some((path.to_string(), read(path)?))),
        None if Path::new(default).is_file() => Ok(Some((default.to_string(), read(default)?))),
        None => Ok(None),
    }
}

/// `palisade import [--ha-cf F] [--haresources F] [--authkeys F] [--key-out F]
/// [--addresses 'NODE=IP[,IP] ...']`.
pub fn run(args: &Args) -> Exit {
    match run_inner(args) {
        Ok(exit) | Err(exit) => exit,
    }
}

fn run_inner(args: &Args) -> Result<Exit, Exit> {
    let ha_cf_path = args.option("ha-cf").unwrap_or("/etc/ha.d/ha.cf");
    let ha_cf = read(ha_cf_path)?;
    let haresources = optional(args, "haresources", "/etc/ha.d/haresources")?;
    let authkeys = optional(args, "authkeys", "/etc/ha.d/authkeys")?;
    let authkeys_mode = authkeys.as_ref().and_then(|(path, _)| {
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    });
    let addresses: Vec<String> = args
        .option("addresses")
        .unwrap_or("")
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    // The configuration names the key file written here, as an absolute path.
    let key_file = args.option("key-out").map(|out| {
        std::path::absolute(out)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| out.to_string())
    });
    let sources = Sources {
        ha_cf: &ha_cf,
        haresources: haresources.as_ref().map(|(_, t)| t.as_str()),
        authkeys: authkeys.as_ref().map(|(_, t)| t.as_str()),
        authkeys_mode,
        addresses: &addresses,
        key_file: key_file.as_deref(),
    };
    let imported = import(&sources).map_err(|e| {
        eprintln!("palisade import: {e}");
        Exit::Config
    })?;
    for w in &imported.warnings {
        eprintln!("palisade import: warning: {w}");
    }
    let text = imported.config.to_toml().map_err(|e| {
        eprintln!("palisade import: {e}");
        Exit::Failed
    })?;
    if let Some(out) = args.option("key-out") {
        let Some(key) = imported.key.as_ref() else {
            eprintln!("palisade import: no key material to write (no usable authkeys)");
            return Err(Exit::Config);
        };
        // Never overwrite an existing key; the file is created 0600.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(out)
            .map_err(|e| {
                eprintln!("palisade import: cannot create {out}: {e}");
                Exit::Failed
            })?;
        file.write_all(&key.0).map_err(|e| {
            eprintln!("palisade import: cannot write {out}: {e}");
            Exit::Failed
        })?;
        eprintln!("palisade import: cluster key written to {out} (0600)");
    }
    print!("{text}");
    Ok(Exit::Success)
}
