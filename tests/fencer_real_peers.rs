//! The fencer against real devices: node1's BMC is OpenIPMI `ipmi_sim` driven by our
//! fence_ipmilan (topology level 1), its PDU outlet is Debian `snmpd` with the APC backend
//! driven by our fence_apc_snmp (level 2). With the BMC up the fence goes through level 1
//! and the outlet stays on; with the BMC stopped level 1 fails within its timeout and the
//! outlet is switched off through level 2. Everything on 127.0.0.1, stopped by PID.

mod common;
mod common_fencer;

use common::Bmc;
use common_fencer::{attempts, built_binary, show, Daemon};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One snmpd PDU from tests/fixtures/snmp_pdu.sh, stopped by its own fixture on drop.
struct Pdu {
    port: u16,
    dir: PathBuf,
}

fn pdu_fixture(dir: &Path, port: u16, cmd: &str) -> std::process::Output {
    Command::new("bash")
        .arg(common::repo_root().join("tests/fixtures/snmp_pdu.sh"))
        .arg(cmd)
        .env("SNMP_PORT", port.to_string())
        .env("SNMP_DIR", dir)
        .stdin(Stdio::null())
        .output()
        .expect("run tests/fixtures/snmp_pdu.sh")
}

impl Pdu {
    fn start() -> Pdu {
        let mut last = String::new();
        for _ in 0..4 {
            let port = common::free_udp_port();
            let dir = std::env::temp_dir().join(format!(
                "palisade-test-fencer-pdu-{}-{port}",
                std::process::id()
            ));
            let out = pdu_fixture(&dir, port, "start");
            if out.status.success() {
                return Pdu { port, dir };
            }
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("could not start snmpd (apt-get install snmpd snmp):\n{last}");
    }

    /// Outlet `n` on (1) or off (2), from the backend's state file.
    fn outlet_on(&self, n: u32) -> bool {
        let text = std::fs::read_to_string(self.dir.join("state")).unwrap_or_default();
        !text.lines().any(|l| l.trim() == format!("outlet {n} 2"))
    }
}

impl Drop for Pdu {
    fn drop(&mut self) {
        let _ = pdu_fixture(&self.dir, self.port, "clean");
    }
}

fn config(bmc: &Bmc, pdu: &Pdu) -> String {
    format!(
        r#"
[[device]]
name = "bmc-node1"
agent = "{ipmilan}"
params = {{ ip = "127.0.0.1", ipport = {bmc_port}, username = "{user}", password = "{pass}", lanplus = 1, cipher = 3, power_wait = 0, login_timeout = 2, power_timeout = 5, pcmk_host_list = "node1", pcmk_off_timeout = "8s", pcmk_off_retries = 1 }}

[[device]]
name = "pdu"
agent = "{apc}"
params = {{ ip = "127.0.0.1", ipport = {pdu_port}, community = "private", power_wait = 0, pcmk_host_map = "node1:3", pcmk_off_timeout = "10s" }}

[[level]]
index = 1
target = "node1"
devices = ["bmc-node1"]

[[level]]
index = 2
target = "node1"
devices = ["pdu"]
"#,
        ipmilan = built_binary("fence_ipmilan").display(),
        apc = built_binary("fence_apc_snmp").display(),
        bmc_port = bmc.port,
        user = common::BMC_USER,
        pass = common::BMC_PASS,
        pdu_port = pdu.port,
    )
}

#[test]
fn bmc_first_then_pdu_when_the_bmc_is_down() {
    let bmc = Bmc::start(true);
    let pdu = Pdu::start();
    let daemon = Daemon::start("real-peers", "", &config(&bmc, &pdu));

    // Level 1: the BMC powers node1 off; the PDU is not touched.
    let out = daemon.cli(&["fence", "node1", "--action", "off"]);
    assert!(out.status.success(), "fence via BMC: {}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("level 1"),
        "{}",
        show(&out)
    );
    assert!(!bmc.power_file(), "the BMC did not power node1 off");
    assert!(pdu.outlet_on(3), "the PDU was used although the BMC worked");

    // The BMC dies: level 1 fails within its step timeout, level 2 switches outlet 3 off.
    bmc.set_power(true);
    drop(bmc);
    let out = daemon.cli(&["fence", "node1", "--action", "off"]);
    assert!(out.status.success(), "fence via PDU: {}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("level 2"),
        "{}",
        show(&out)
    );
    assert!(!pdu.outlet_on(3), "outlet 3 still on");

    // Both operations are in the history; the second is "failed by level 1, done by
    // level 2": the BMC's attempts (bounded by its step timeout and retries: a hang
    // would be the harness's failure) all failed, then one PDU attempt succeeded.
    let out = daemon.cli(&["history", "node1", "--json"]);
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).expect("history json");
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{history}");
    let fallback = entries
        .iter()
        .find(|e| e["attempts"].as_array().is_some_and(|a| a.len() > 1))
        .unwrap_or_else(|| panic!("no operation with a fallback: {history}"));
    let attempts = attempts(fallback);
    let (last, bmc) = attempts.split_last().expect("attempts");
    assert_eq!(last, &("pdu".to_string(), true), "{fallback}");
    assert!(
        !bmc.is_empty() && bmc.iter().all(|(d, ok)| d == "bmc-node1" && !ok),
        "{fallback}"
    );
}
