//! `palisade check`: the I/O shell of [`crate::check`]. Reads each input named on the
//! command line (palisade's configurations with their own loaders, corosync.conf, the
//! sbd settings, the CIB, sbd headers with the sbd crate's reader), fills the timing
//! model, and prints the report as text or JSON. Exit: [`Exit::Unsafe`] when a rule is
//! broken unsafely, [`Exit::Config`] when an input cannot be read.

use std::path::Path;

use super::definition::CheckArgs;
use super::local::load_config;
use crate::check::{check, cib, corosync, sysconfig, Model, Report};
use crate::exit::Exit;

/// Run `palisade check`.
pub fn run(args: &CheckArgs, json: bool) -> Exit {
    let model = match build(args) {
        Ok(m) => m,
        Err(exit) => return exit,
    };
    let report = check(&model);
    print_report(&report, json)
}

/// Print a report; the exit it means.
pub fn print_report(report: &Report, json: bool) -> Exit {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("palisade check: {e}");
                return Exit::Failed;
            }
        }
    } else {
        print!("{}", report.text());
    }
    if report.is_unsafe() {
        Exit::Unsafe
    } else {
        Exit::Success
    }
}

fn read(path: &Path) -> Result<String, Exit> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("palisade check: cannot read {}: {e}", path.display());
        Exit::Config
    })
}

fn bad(path: &Path, e: impl std::fmt::Display) -> Exit {
    eprintln!("palisade check: {}: {e}", path.display());
    Exit::Config
}

fn build(args: &CheckArgs) -> Result<Model, Exit> {
    let mut model = Model::default();
    // The sbd header first: its timeouts beat SBD_WATCHDOG_TIMEOUT, as in sbd.
    for dev in &args.sbd_device {
        let timeouts = sbd::blockdev::FileDevice::open(dev)
            .map_err(sbd::disk::DiskError::from)
            .and_then(sbd::disk::SbdDisk::open)
            .map(|disk| disk.header().timeouts)
            .map_err(|e| bad(dev, e))?;
        model.add_sbd_header(&timeouts, &dev.display().to_string());
    }
    if let Some(path) = &args.sbd_config {
        let sys = sysconfig::parse(&read(path)?).map_err(|e| bad(path, e))?;
        model.add_sysconfig(&sys, &path.display().to_string());
    }
    if let Some(path) = &args.corosync {
        let totem = corosync::parse(&read(path)?).map_err(|e| bad(path, e))?;
        model.add_corosync(&totem, &path.display().to_string());
    }
    if let Some(path) = &args.cib {
        let parsed = cib::parse(&read(path)?).map_err(|e| bad(path, e))?;
        model.add_cib(&parsed, &path.display().to_string());
    }
    if let Some(path) = &args.config {
        let cfg = load_config(path)?;
        model.add_fencer(&cfg, &path.display().to_string());
    }
    if let Some(path) = &args.node_config {
        let cfg =
            crate::node::config::load(path, args.node.as_deref()).map_err(|e| bad(path, e))?;
        model.add_node(&cfg, &path.display().to_string());
    }
    Ok(model)
}
