//! The seeded fault campaign on the classic HA workload (issue 16; `docs/chaos.md`).
//!
//! The lab is `common_cluster`'s (network namespaces, each node's power behind its own
//! ipmi_sim BMC, fencing with our `fence_ipmilan` through each node's `palisade daemon`,
//! one shared events file), with its node configurations changed by [`configure`]: the
//! workload is a group `fs` -> `vip` -> `web` (`tests/fixtures/chaos/`): the shared ext4
//! image on the node's own loop device ([`san`]), the virtual IP (Debian's IPaddr2), and a
//! web server that journals every request with fsync before it answers; a client in its
//! own namespace ([`client`]) keeps requesting through the virtual IP.
//!
//! [`plan`] turns a seed into faults; [`runner`] injects and heals them, keeps the nodes
//! powered and booted, and runs the invariant checkers ([`checks`]) as it goes and at
//! the end.
//!
//! Safety: only the lab's own namespaces, loop devices, FUSE mounts and processes are
//! touched, by PID; every node runs without CAP_SYS_BOOT (`common_cluster`).
#![allow(dead_code)]

pub mod checks;
pub mod client;
pub mod plan;
pub mod runner;
pub mod san;

use std::path::{Path, PathBuf};

use crate::common_cluster::{lab, repo_root, Cluster, NodeToml, Setup};

/// The service's virtual IP (ring 0's subnet) and port.
pub const VIP: &str = "10.77.0.100";
pub const PORT: u16 = 80;

/// The resources of the group, in start order.
pub const RESOURCES: [&str; 3] = ["fs", "vip", "web"];

/// The SAN directory of the lab `prefix` (outside the cluster directory, which the lab
/// deletes while FUSE mounts may still be there).
pub fn san_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("palisade-chaos-{prefix}"))
}

/// Why the workload cannot run here, if it cannot.
pub fn workload_unavailable() -> Option<String> {
    for agent in ["Filesystem", "IPaddr2"] {
        if !Path::new("/usr/lib/ocf/resource.d/heartbeat")
            .join(agent)
            .is_file()
        {
            return Some(format!(
                "ocf:heartbeat:{agent} missing (apt-get install resource-agents)"
            ));
        }
    }
    for tool in [
        "mkfs.ext4",
        "e2fsck",
        "debugfs",
        "losetup",
        "curl",
        "iptables",
        "modprobe",
    ] {
        if !testkit::peers::on_path(tool) {
            return Some(format!(
                "{tool} missing (e2fsprogs, util-linux, curl, iptables, kmod)"
            ));
        }
    }
    if let Some(why) = crate::common_cluster::shared_disk_unavailable() {
        return Some(why);
    }
    None
}

/// Node `i`'s configuration: the lab's, with the workload group instead of the lab's
/// Logger service.
pub fn configure(c: &Cluster, i: usize, t: &mut NodeToml) {
    let san = san_dir(&c.prefix);
    let d = |p: PathBuf| p.display().to_string();
    t.resources.clear();
    let log = d(c.dir.join("resource.log"));
    let mount = d(san.join("mnt"));
    t.add_sections(&format!(
        r#"
[options]
resource-stickiness = 100

[[primitive]]
name = "fs"
agent = "ocf:chaos:SharedFs"
params = {{ device = "{device}", directory = "{mount}", fstype = "ext4", log = "{log}", image = "{image}", fsck_log = "{fsck}", san = "{san}" }}
op = [{{ name = "monitor", interval = "2s", timeout = "10s" }}, {{ name = "start", timeout = "40s" }}, {{ name = "stop", timeout = "10s" }}]

[[primitive]]
name = "vip"
agent = "ocf:chaos:Vip"
params = {{ ip = "{VIP}", cidr_netmask = "24", nic = "r0", arp_count = "1", arp_bg = "false", log = "{log}" }}
op = [{{ name = "monitor", interval = "2s", timeout = "10s" }}]

[[primitive]]
name = "web"
agent = "ocf:chaos:Web"
params = {{ ip = "{VIP}", port = "{PORT}", directory = "{mount}", state = "{run}", log = "{log}", out = "{out}" }}
op = [{{ name = "monitor", interval = "1s", timeout = "5s" }}, {{ name = "stop", timeout = "10s" }}]

[[group]]
name = "ha"
members = ["fs", "vip", "web"]
"#,
        device = d(san.join(format!("disk{i}"))),
        image = d(san.join("san.img")),
        fsck = d(san.join("fsck.log")),
        san = d(san.clone()),
        run = d(c.dir.join(format!("run{i}"))),
        out = d(c.dir.join(format!("web{i}.out"))),
    ));
}

/// A lab cluster of `nodes` nodes running the workload, or None (a counted skip; a
/// failure under CI=true or as root) where it cannot run.
pub fn chaos_lab(tag: &str, nodes: usize) -> Option<Cluster> {
    if let Some(why) = workload_unavailable() {
        testkit::skip::required(format!("chaos workload: {why}"));
        return None;
    }
    let c = lab(
        tag,
        Setup {
            nodes,
            rings: 2,
            two_node: nodes == 2,
            via_fencer: true,
            configure: Some(configure),
            ..Setup::default()
        },
    )?;
    std::os::unix::fs::symlink(
        repo_root().join("tests/fixtures/chaos/ocf/resource.d/chaos"),
        c.dir.join("ocf/resource.d/chaos"),
    )
    .expect("chaos agents");
    Some(c)
}
