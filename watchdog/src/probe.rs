//! Watchdog capability probe that never arms anything: it reads
//! `/sys/class/watchdog/watchdogN/*` and looks at `/dev` entries with `stat` only.
//! No `/dev` node is ever opened (opening one starts the timer, and with `nowayout` it can
//! never be stopped again — sbd's `query-watchdog` has rebooted machines that way).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ioctl;

/// Why the probe could not list watchdogs.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot list {path}: {source}")]
    ListClass {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What sysfs says about one watchdog. Fields are `None` when the driver does not expose
/// the attribute (older kernels lack several of them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbedWatchdog {
    /// `watchdogN`.
    pub name: String,
    pub sysfs_path: PathBuf,
    /// Existing device nodes for it: `/dev/watchdogN`, plus the legacy `/dev/watchdog`
    /// (misc 10:130) for `watchdog0`.
    pub dev_nodes: Vec<PathBuf>,
    /// Driver identity, e.g. `Software Watchdog`, `iTCO_wdt`.
    pub identity: Option<String>,
    /// Kernel driver bound to the parent device (`device/driver` link), if any.
    pub driver: Option<String>,
    pub timeout: Option<Duration>,
    pub min_timeout: Option<Duration>,
    pub max_timeout: Option<Duration>,
    pub pretimeout: Option<Duration>,
    /// Only while the timer runs, and only if the driver can tell.
    pub time_left: Option<Duration>,
    /// `WDIOF_*` bits.
    pub options: Option<u32>,
    pub bootstatus: Option<u32>,
    pub fw_version: Option<u32>,
    /// `nowayout`: once opened, the timer can never be stopped.
    pub nowayout: Option<bool>,
    /// `active` (someone has the timer running) or `inactive`.
    pub state: Option<String>,
    /// Major:minor from sysfs `dev`.
    pub dev: Option<String>,
}

impl ProbedWatchdog {
    /// The kernel's software watchdog (cannot reset a hung kernel, unreliable in some VMs).
    pub fn is_softdog(&self) -> bool {
        self.identity.as_deref() == Some("Software Watchdog")
            || self.driver.as_deref() == Some("softdog")
    }

    /// The timer is running: another process holds the device (or nowayout kept it on).
    pub fn is_active(&self) -> bool {
        self.state.as_deref() == Some("active")
    }

    /// Names of the advertised `WDIOF_*` options.
    pub fn option_names(&self) -> Vec<&'static str> {
        self.options.map(ioctl::option_names).unwrap_or_default()
    }

    /// Operator warnings in plain words (empty when nothing is suspicious).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.is_softdog() {
            out.push(format!(
                "{}: softdog is a software timer; it cannot reset a hung kernel and is unreliable in some VMs",
                self.name
            ));
        }
        if self.is_active() {
            out.push(format!(
                "{}: timer already active: another process owns this watchdog",
                self.name
            ));
        }
        if self.nowayout == Some(true) {
            out.push(format!(
                "{}: nowayout is set: once opened, the timer can never be stopped (magic close ignored)",
                self.name
            ));
        }
        if let Some(options) = self.options {
            if options & ioctl::WDIOF_SETTIMEOUT == 0 {
                out.push(format!(
                    "{}: driver cannot set the timeout (run with the timeout left as is)",
                    self.name
                ));
            }
            if options & ioctl::WDIOF_MAGICCLOSE == 0 {
                out.push(format!(
                    "{}: driver does not advertise magic close",
                    self.name
                ));
            }
        }
        if self.dev_nodes.is_empty() {
            out.push(format!("{}: no device node under /dev", self.name));
        }
        out
    }
}

/// Probe the live system (`/sys`, `/dev`). Never opens a device node.
pub fn probe() -> Result<Vec<ProbedWatchdog>, ProbeError> {
    probe_at(Path::new("/sys"), Path::new("/dev"))
}

/// Probe with other roots (tests build a fake tree). A missing `class/watchdog` directory
/// means "no watchdog": an empty list, not an error.
pub fn probe_at(sysfs_root: &Path, dev_root: &Path) -> Result<Vec<ProbedWatchdog>, ProbeError> {
    let class = sysfs_root.join("class/watchdog");
    let entries = match std::fs::read_dir(&class) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ProbeError::ListClass {
                path: class.display().to_string(),
                source,
            })
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("watchdog"))
        .collect();
    names.sort_by_key(|n| (watchdog_index(n), n.clone()));
    Ok(names
        .into_iter()
        .map(|name| probe_one(&class, dev_root, name))
        .collect())
}

fn watchdog_index(name: &str) -> u32 {
    name.trim_start_matches("watchdog")
        .parse()
        .unwrap_or(u32::MAX)
}

fn probe_one(class: &Path, dev_root: &Path, name: String) -> ProbedWatchdog {
    let dir = class.join(&name);
    let attr = |a: &str| {
        std::fs::read_to_string(dir.join(a))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let secs = |a: &str| {
        attr(a)
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
    };
    let number = |a: &str| attr(a).and_then(|s| parse_number(&s));

    let mut dev_nodes = Vec::new();
    let own = dev_root.join(&name);
    if std::fs::symlink_metadata(&own).is_ok() {
        dev_nodes.push(own);
    }
    if name == "watchdog0" {
        let legacy = dev_root.join("watchdog");
        if let Ok(meta) = std::fs::metadata(&legacy) {
            // The legacy node is misc 10:130; a non-device entry is a test tree.
            let misc = meta.file_type().is_char_device() && meta.rdev() == libc_makedev(10, 130);
            if misc || !meta.file_type().is_char_device() {
                dev_nodes.push(legacy);
            }
        }
    }
    let driver = std::fs::read_link(dir.join("device/driver"))
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));

    ProbedWatchdog {
        identity: attr("identity"),
        driver,
        timeout: secs("timeout"),
        min_timeout: secs("min_timeout"),
        max_timeout: secs("max_timeout"),
        pretimeout: secs("pretimeout"),
        time_left: secs("timeleft"),
        options: number("options"),
        bootstatus: number("bootstatus"),
        fw_version: number("fw_version"),
        nowayout: attr("nowayout").map(|s| s != "0"),
        state: attr("state"),
        dev: attr("dev"),
        sysfs_path: dir,
        dev_nodes,
        name,
    }
}

/// sysfs prints `options` as `0x8180` and the others in decimal.
fn parse_number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn libc_makedev(major: u32, minor: u32) -> u64 {
    libc::makedev(major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tree(tag: &str) -> (PathBuf, PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!(
            "palisade-watchdog-probe-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let sys = root.join("sys");
        let dev = root.join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        (root, sys, dev)
    }

    fn write_attrs(dir: &Path, attrs: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (k, v) in attrs {
            std::fs::write(dir.join(k), format!("{v}\n")).unwrap();
        }
    }

    #[test]
    fn no_watchdog_class_means_empty_list() {
        let (root, sys, dev) = fake_tree("empty");
        assert!(probe_at(&sys, &dev).unwrap().is_empty());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn reads_softdog_attributes_and_warns() {
        let (root, sys, dev) = fake_tree("softdog");
        write_attrs(
            &sys.join("class/watchdog/watchdog0"),
            &[
                ("identity", "Software Watchdog"),
                ("timeout", "60"),
                ("min_timeout", "1"),
                ("max_timeout", "65535"),
                ("options", "0x8180"),
                ("nowayout", "1"),
                ("state", "active"),
                ("bootstatus", "0"),
                ("dev", "248:0"),
            ],
        );
        write_attrs(
            &sys.join("class/watchdog/watchdog1"),
            &[("identity", "iTCO_wdt"), ("options", "0x8100")],
        );
        std::fs::write(dev.join("watchdog0"), b"").unwrap();
        std::fs::write(dev.join("watchdog"), b"").unwrap();

        let found = probe_at(&sys, &dev).unwrap();
        assert_eq!(found.len(), 2);
        let soft = &found[0];
        assert_eq!(soft.name, "watchdog0");
        assert!(soft.is_softdog());
        assert!(soft.is_active());
        assert_eq!(soft.timeout, Some(Duration::from_secs(60)));
        assert_eq!(soft.max_timeout, Some(Duration::from_secs(65535)));
        assert_eq!(soft.options, Some(0x8180));
        assert_eq!(soft.nowayout, Some(true));
        assert_eq!(soft.dev.as_deref(), Some("248:0"));
        assert_eq!(
            soft.dev_nodes,
            vec![dev.join("watchdog0"), dev.join("watchdog")]
        );
        assert_eq!(
            soft.option_names(),
            vec!["SETTIMEOUT", "MAGICCLOSE", "KEEPALIVEPING"]
        );
        let warnings = soft.warnings().join("\n");
        assert!(warnings.contains("softdog"), "{warnings}");
        assert!(warnings.contains("nowayout"), "{warnings}");
        assert!(warnings.contains("already active"), "{warnings}");

        let itco = &found[1];
        assert_eq!(itco.identity.as_deref(), Some("iTCO_wdt"));
        assert!(!itco.is_softdog());
        assert_eq!(itco.timeout, None);
        assert!(itco.dev_nodes.is_empty());
        let warnings = itco.warnings().join("\n");
        assert!(warnings.contains("cannot set the timeout"), "{warnings}");
        assert!(warnings.contains("no device node"), "{warnings}");
        std::fs::remove_dir_all(root).unwrap();
    }

    /// The /dev entries are FIFOs: opening one for writing would block forever without a
    /// reader, so a probe that returns proves it only looked at them with stat.
    #[test]
    fn never_opens_device_nodes() {
        let (root, sys, dev) = fake_tree("fifo");
        write_attrs(
            &sys.join("class/watchdog/watchdog0"),
            &[("identity", "Software Watchdog")],
        );
        for node in ["watchdog0", "watchdog"] {
            let status = std::process::Command::new("mkfifo")
                .arg(dev.join(node))
                .status()
                .unwrap();
            assert!(status.success());
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (s, d) = (sys.clone(), dev.clone());
        std::thread::spawn(move || {
            let _ = tx.send(probe_at(&s, &d).map(|v| v.len()));
        });
        let found = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("probe blocked: it opened a device node")
            .unwrap();
        assert_eq!(found, 1);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn sorts_numerically() {
        let (root, sys, dev) = fake_tree("sort");
        for n in ["watchdog10", "watchdog2", "watchdog0"] {
            write_attrs(&sys.join("class/watchdog").join(n), &[("identity", n)]);
        }
        let names: Vec<String> = probe_at(&sys, &dev)
            .unwrap()
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, ["watchdog0", "watchdog2", "watchdog10"]);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn parse_number_handles_hex_and_decimal() {
        assert_eq!(parse_number("0x8180"), Some(0x8180));
        assert_eq!(parse_number("32"), Some(32));
        assert_eq!(parse_number("zz"), None);
    }

    /// On this machine there is no watchdog; the live probe must still work (and, by
    /// construction, never opens /dev).
    #[test]
    fn live_probe_runs() {
        let found = probe().unwrap();
        for w in &found {
            assert!(w.name.starts_with("watchdog"));
        }
    }
}
