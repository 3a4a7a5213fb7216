//! The BMC power path of the cluster lab (`Setup::power_kills`, the default): each node's
//! power is its own OpenIPMI `ipmi_sim` (`tests/fixtures/cluster/bmc.sh`, on the lab's
//! management network), whose power-on runs `node_power.sh`, which boots the node's
//! software (`node_boot.sh`: optional fencer and sbd watcher, then `palisade node`) as
//! PID 1 of a fresh PID namespace inside the node's network namespace; power-off kills
//! that whole PID namespace. The nodes fence each other with our `fence_ipmilan`, and
//! the harness powers nodes on and off with it too, so the daemons are not children of
//! the test: their PIDs are found in the node's namespace, their exit status in a file.
//!
//! Safety: only the ipmi_sim processes started here (PID files checked against their
//! command line) and the processes inside the lab's own namespaces are signalled.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use super::{built_binary, fixtures, wait_until, Cluster};

/// BMC login of every lab node (bmc.sh).
const BMC_USER: &str = "admin";
const BMC_PASSWORD: &str = "secret";

/// Address of node `j`'s BMC on the management network (lab.sh / bmc.sh).
pub fn bmc_address(j: usize) -> String {
    format!("10.78.0.{}", 100 + j)
}

/// The `fence_ipmilan` parameters (stdin `key=value` names) that reach node `j`'s BMC.
/// power_wait 0 and a 100 ms status poll: the agent returns as soon as the chassis reads
/// off. login_timeout 2 s: a BMC that does not answer fails an attempt in about 2 s.
pub fn bmc_params(j: usize) -> Vec<(&'static str, String)> {
    vec![
        ("ip", bmc_address(j)),
        ("ipport", "623".into()),
        ("username", BMC_USER.into()),
        ("password", BMC_PASSWORD.into()),
        ("lanplus", "1".into()),
        ("cipher", "3".into()),
        ("power_wait", "0".into()),
        ("stonith_status_sleep", "0.1".into()),
        ("login_timeout", "2".into()),
        ("power_timeout", "10".into()),
    ]
}

/// An exit status as `$?` reports it (128+N for signal N).
fn status_from_shell(code: i32) -> ExitStatus {
    if code > 128 {
        ExitStatus::from_raw(code - 128)
    } else {
        ExitStatus::from_raw(code << 8)
    }
}

impl Cluster {
    fn bmc_script(&self, args: &[&str]) -> bool {
        Command::new("bash")
            .arg(fixtures().join("bmc.sh"))
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Start every node's BMC (nodes stay off until [`Cluster::start`]).
    pub(super) fn bmcs_up(&mut self) {
        let dir = self.dir.display().to_string();
        for i in 1..=self.setup.nodes {
            let ok = self.bmc_script(&["start", &dir, &i.to_string(), &self.prefix]);
            assert!(ok, "the BMC of node{i} did not start");
        }
    }

    /// Run our `fence_ipmilan` against node `i`'s BMC from the management network
    /// (the switch namespace): `action` is on, off, status, ...
    pub fn bmc(&self, i: usize, action: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &format!("{}-sw", self.prefix)])
            .arg(built_binary("fence_ipmilan"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run fence_ipmilan");
        let mut text = String::new();
        for (k, v) in bmc_params(i) {
            text.push_str(&format!("{k}={v}\n"));
        }
        text.push_str(&format!("action={action}\n"));
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text.as_bytes());
        }
        child.wait_with_output().expect("fence_ipmilan output")
    }

    /// Power node `i` through its BMC (`on`/`off`), panicking if the BMC refuses.
    pub fn bmc_power(&self, i: usize, action: &str) {
        let out = self.bmc(i, action);
        assert!(
            out.status.success(),
            "BMC of node{i}: {action} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// "BMC down": node `i`'s ipmi_sim is stopped (SIGSTOP) and answers nothing; the
    /// node's power stays as it is.
    pub fn bmc_pause(&self, i: usize) {
        let dir = self.dir.display().to_string();
        assert!(self.bmc_script(&["pause", &dir, &i.to_string()]));
    }

    /// The BMC of node `i` answers again (SIGCONT).
    pub fn bmc_resume(&self, i: usize) {
        let dir = self.dir.display().to_string();
        assert!(self.bmc_script(&["resume", &dir, &i.to_string()]));
    }

    fn exit_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{i}.exit"))
    }

    /// The `nodeI.env` read by node_power.sh / node_boot.sh at power-on.
    fn write_boot_env(&self, i: usize, with_daemon: bool) {
        let d = &self.dir;
        let mut env = format!(
            "NETNS={}\nNODE=node{i}\nPOWER_SLOW={}\nPALISADE={}\nNODE_CONFIG={}\nNODE_OUT={}\nNODE_EXIT={}\nNO_DAEMON={}\n",
            self.netns(i),
            self.setup.fence_slowness,
            env!("CARGO_BIN_EXE_palisade"),
            d.join(format!("node{i}.toml")).display(),
            d.join(format!("node{i}.out")).display(),
            self.exit_file(i).display(),
            if with_daemon { 0 } else { 1 },
        );
        if self.setup.via_fencer {
            env.push_str(&format!(
                "FENCER_CONFIG={}\nFENCER_SOCKET={}\nFENCER_OUT={}\n",
                d.join(format!("fencer{i}.toml")).display(),
                self.fencer_socket(i).display(),
                d.join(format!("fencer{i}.out")).display()
            ));
        }
        if let Some(watch) = self.sbd_watch_command(i) {
            env.push_str(&format!(
                "SBD_WATCH=\"{watch}\"\nSBD_OUT={}\n",
                d.join(format!("sbd{i}.out")).display()
            ));
        }
        std::fs::write(d.join(format!("node{i}.env")), env).expect("boot env");
    }

    /// Power node `i` on through its BMC (power-cycling it first if it is on): it boots
    /// with a fresh `palisade node` (and fencer, if used), or with no daemon at all.
    pub(super) fn bmc_boot(&mut self, i: usize, with_daemon: bool) {
        if self.setup.via_fencer {
            std::fs::write(
                self.dir.join(format!("fencer{i}.toml")),
                self.fencer_config(i),
            )
            .expect("fencer config");
        }
        self.write_boot_env(i, with_daemon);
        if self.power(i) == "on" {
            self.bmc_power(i, "off");
        }
        let _ = std::fs::remove_file(self.exit_file(i));
        self.bmc_power(i, "on");
        self.booted.insert(i);
    }

    /// Node `i` powered on with no cluster software running (it never joins).
    pub fn boot_without_daemon(&mut self, i: usize) {
        self.bmc_boot(i, false);
    }

    /// Host PID of node `i`'s `palisade node` process, found in the node's namespace.
    pub fn daemon_pid(&self, i: usize) -> Option<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.netns(i)])
            .output()
            .ok()?;
        let config = self.dir.join(format!("node{i}.toml"));
        let config = config.to_string_lossy();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .find(|pid| {
                let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let args: Vec<String> = raw
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.len() >= 4 && args[1] == "node" && args[2] == "--config" && args[3] == config
            })
    }

    /// Node `i`'s daemon status: its exit status once it ended, SIGKILL once the node
    /// was powered off, None while it runs (or was never booted).
    pub(super) fn bmc_exited(&self, i: usize) -> Option<ExitStatus> {
        if !self.booted.contains(&i) {
            return None;
        }
        if let Ok(text) = std::fs::read_to_string(self.exit_file(i)) {
            if let Ok(code) = text.trim().parse::<i32>() {
                return Some(status_from_shell(code));
            }
        }
        (self.power(i) == "off").then(|| ExitStatus::from_raw(libc::SIGKILL))
    }

    pub(super) fn bmc_signal(&self, i: usize, signal: i32) {
        if let Some(pid) = self.daemon_pid(i) {
            // SAFETY: kill(2) on the daemon this lab booted inside its own namespace.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// SIGTERM to node `i`'s daemon, SIGKILL after 10 s; its exit status.
    pub(super) fn bmc_stop(&mut self, i: usize) -> Option<ExitStatus> {
        if let Some(pid) = self.daemon_pid(i) {
            // SAFETY: as in bmc_signal.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            // SAFETY: as in bmc_signal.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if !wait_until(Duration::from_secs(10), || self.daemon_pid(i).is_none()) {
                // SAFETY: as in bmc_signal.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            wait_until(Duration::from_secs(3), || self.bmc_exited(i).is_some());
        }
        self.bmc_exited(i)
    }

    /// Tear down: daemons stopped (SIGTERM, all at once), every node powered off (its
    /// node_power.sh, checked by command line, gets the BMC's SIGTERM), BMCs stopped.
    pub(super) fn bmc_teardown(&mut self) {
        let nodes: Vec<usize> = (1..=self.setup.nodes).collect();
        let running: Vec<(usize, i32)> = nodes
            .iter()
            .filter_map(|i| self.daemon_pid(*i).map(|p| (*i, p)))
            .collect();
        for (_, pid) in &running {
            // SAFETY: daemons this lab booted in its own namespaces.
            unsafe { libc::kill(*pid, libc::SIGCONT) };
            // SAFETY: as above.
            unsafe { libc::kill(*pid, libc::SIGTERM) };
        }
        wait_until(Duration::from_secs(10), || {
            running.iter().all(|(i, _)| self.daemon_pid(*i).is_none())
        });
        let dir = self.dir.display().to_string();
        for i in &nodes {
            let _ = self.bmc_script(&["resume", &dir, &i.to_string()]);
            if let Some(pid) = self.power_pid(*i) {
                // SAFETY: our node_power.sh (command line checked): "power off".
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        for i in &nodes {
            wait_until(Duration::from_secs(10), || self.power_pid(*i).is_none());
            let _ = self.bmc_script(&["stop", &dir, &i.to_string()]);
        }
    }

    /// PID of node `i`'s node_power.sh (the node's power), if it runs.
    fn power_pid(&self, i: usize) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.join(format!("power{i}.pid"))).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (cmdline.contains("node_power.sh") && cmdline.contains(&self.dir.display().to_string()))
            .then_some(pid)
    }
}
