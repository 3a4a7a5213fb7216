//! `palisade import`: convert heartbeat's ha.cf, haresources and authkeys (given in
//! that order as arguments, or by `--ha-cf`, `--haresources`, `--authkeys`) into a
//! palisade node configuration (printed as TOML on stdout; `--addresses 'NODE=IP[,IP] ...'` gives
//! each node's ring addresses) and, with `--key-out`, write the derived HMAC-SHA256
//! cluster key, which the configuration then names. Warnings go to stderr.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::definition::ImportArgs;
use crate::exit::Exit;
use crate::import::{import, Sources};

fn read(path: &Path) -> Result<String, Exit> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("palisade import: cannot read {}: {e}", path.display());
        Exit::Config
    })
}

/// The file given, or heartbeat's default location when it exists there.
fn optional(given: Option<&PathBuf>, default: &str) -> Result<Option<(PathBuf, String)>, Exit> {
    match given {
        Some(path) => Ok(Some((path.clone(), read(path)?))),
        None if Path::new(default).is_file() => {
            Ok(Some((PathBuf::from(default), read(Path::new(default))?)))
        }
        None => Ok(None),
    }
}

/// `palisade import [HA_CF [HARESOURCES [AUTHKEYS]]] [--ha-cf F] [--haresources F]
/// [--authkeys F] [--key-out F] [--addresses 'NODE=IP[,IP] ...']`.
pub fn run(args: &ImportArgs) -> Exit {
    match run_inner(args) {
        Ok(exit) | Err(exit) => exit,
    }
}

fn run_inner(args: &ImportArgs) -> Result<Exit, Exit> {
    let ha_cf_path = args
        .ha_cf()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("/etc/ha.d/ha.cf"));
    let ha_cf = read(&ha_cf_path)?;
    let haresources = optional(args.haresources(), "/etc/ha.d/haresources")?;
    let authkeys = optional(args.authkeys(), "/etc/ha.d/authkeys")?;
    let authkeys_mode = authkeys.as_ref().and_then(|(path, _)| {
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    });
    let addresses: Vec<String> = args
        .addresses
        .as_deref()
        .unwrap_or("")
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    // The configuration names the key file written here, as an absolute path.
    let key_file = args.key_out.as_ref().map(|out| {
        std::path::absolute(out)
            .unwrap_or_else(|_| out.clone())
            .display()
            .to_string()
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
    if let Some(out) = &args.key_out {
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
                eprintln!("palisade import: cannot create {}: {e}", out.display());
                Exit::Failed
            })?;
        file.write_all(&key.0).map_err(|e| {
            eprintln!("palisade import: cannot write {}: {e}", out.display());
            Exit::Failed
        })?;
        eprintln!(
            "palisade import: cluster key written to {} (0600)",
            out.display()
        );
    }
    print!("{text}");
    Ok(Exit::Success)
}
