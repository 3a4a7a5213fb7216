//! The Debian packages (`scripts/package.sh`) install with apt, put our agents and sbd
//! where pacemaker and admins look, keep ClusterLabs' files under dpkg diversions, and give
//! them back on removal. The install happens on a copy-on-write view of this machine's
//! root (overlayfs in a private mount namespace, `tests/fixtures/package/smoke.sh`): the
//! host's files, dpkg database and diversions are never touched, which the test checks.
//!
//! The packages are built from this profile's binaries (stripped), uncompressed, so the
//! test takes seconds; `bash scripts/package.sh` builds the release packages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{bins, skip};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// What the smoke script recorded: `NAME.txt` (output) and `NAME.rc` (exit code).
struct Facts(PathBuf);

impl Facts {
    fn text(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(format!("{name}.txt")))
            .unwrap_or_else(|e| panic!("{name}.txt not recorded: {e}"))
    }

    fn rc(&self, name: &str) -> i32 {
        let rc = std::fs::read_to_string(self.0.join(format!("{name}.rc")))
            .unwrap_or_else(|e| panic!("{name}.rc not recorded: {e}"));
        rc.trim().parse().expect("exit code")
    }

    #[track_caller]
    fn ok(&self, name: &str) -> String {
        let text = self.text(name);
        assert_eq!(self.rc(name), 0, "{name} failed:\n{text}");
        text
    }
}

/// `dpkg-divert --list`: diverted path -> (diverted to, by package).
fn diversions(list: &str) -> BTreeMap<String, (String, String)> {
    list.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("diversion of ")?;
            let (path, rest) = rest.split_once(" to ")?;
            let (to, by) = rest.split_once(" by ")?;
            Some((path.to_string(), (to.to_string(), by.to_string())))
        })
        .collect()
}

/// The root element of an XML document that may be preceded by other output lines
/// (ClusterLabs' Python agents print warnings first).
fn xml_root_name(text: &str) -> (String, Option<String>) {
    let start = text.find('<').expect("XML in the output");
    let doc = roxmltree::Document::parse(&text[start..]).expect("well-formed XML");
    let root = doc.root_element();
    (
        root.tag_name().name().to_string(),
        root.attribute("name").map(str::to_string),
    )
}

fn host_state() -> (Vec<u8>, usize) {
    let ipmilan = std::fs::read("/usr/sbin/fence_ipmilan").unwrap_or_default();
    let out = Command::new("dpkg-divert")
        .arg("--list")
        .output()
        .expect("dpkg-divert");
    let ours = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" by palisade"))
        .count();
    (ipmilan, ours)
}

#[test]
fn packages_install_divert_clusterlabs_and_give_it_back() {
    if !skip::is_root() {
        return skip::required("installing packages into an overlay needs root");
    }
    for program in [
        "dpkg-deb",
        "apt-get",
        "unshare",
        "python3",
        "stonith_admin",
        "man",
    ] {
        if !have(program) {
            return skip::required(format!("{program} is not installed"));
        }
    }
    if !Path::new("/usr/sbin/fence_ipmilan").exists() || !Path::new("/usr/sbin/sbd").exists() {
        return skip::required("ClusterLabs' fence-agents and sbd packages are not installed");
    }
    let bindir = bins::profile_dir();
    for b in ["palisade", "palisade-sbd", "fence_ipmilan", "fence_sbd"] {
        bins::built(b);
    }
    let tmp = std::env::temp_dir().join(format!("palisade-package-{}", std::process::id()));
    let debs = tmp.join("debs");
    std::fs::create_dir_all(&debs).expect("temp dir");
    let before = host_state();

    let built = Command::new("bash")
        .arg(repo_root().join("scripts/package.sh"))
        .arg("--bindir")
        .arg(&bindir)
        .arg("--out")
        .arg(&debs)
        .args(["--compress", "none"])
        .output()
        .expect("run scripts/package.sh");
    assert!(
        built.status.success(),
        "package.sh failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let names: BTreeSet<String> = std::fs::read_dir(&debs)
        .expect("out dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".deb"))
        .map(|n| n.split('_').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["palisade", "palisade-fence-agents", "palisade-sbd"].map(String::from))
    );

    let out = tmp.join("out");
    let smoke = Command::new("bash")
        .arg(repo_root().join("tests/fixtures/package/smoke.sh"))
        .arg(&debs)
        .arg(tmp.join("work"))
        .arg(&out)
        .output()
        .expect("run smoke.sh");
    assert!(
        smoke.status.success(),
        "smoke.sh could not set up the overlay (exit {:?}): {}",
        smoke.status.code(),
        String::from_utf8_lossy(&smoke.stderr)
    );
    let facts = Facts(out);

    facts.ok("install");
    // Every name we ship is diverted, ClusterLabs' file kept out of pacemaker's listing.
    let shipped: BTreeSet<String> =
        std::fs::read_dir(debs.join("stage/palisade-fence-agents/usr/sbin"))
            .expect("staged agents")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
    assert!(shipped.contains("fence_ipmilan") && shipped.contains("fence_ilo3"));
    let diverted = diversions(&facts.ok("diversions"));
    for name in &shipped {
        let (to, by) = diverted
            .get(&format!("/usr/sbin/{name}"))
            .unwrap_or_else(|| panic!("/usr/sbin/{name} is not diverted"));
        assert_eq!(to, &format!("/usr/lib/palisade/clusterlabs/{name}"));
        assert_eq!(by, "palisade-fence-agents");
    }
    assert_eq!(
        diverted.get("/usr/sbin/sbd"),
        Some(&(
            "/usr/lib/palisade/clusterlabs/sbd".to_string(),
            "palisade-sbd".to_string()
        ))
    );
    assert_eq!(
        diverted
            .get("/lib/systemd/system/sbd.service")
            .map(|d| d.1.as_str()),
        Some("palisade-sbd")
    );
    // /usr/sbin/fence_ipmilan is ours; ClusterLabs' still runs from where it was put.
    facts.ok("ours-ipmilan");
    assert_eq!(
        xml_root_name(&facts.ok("clusterlabs-ipmilan-metadata")),
        (
            "resource-agent".to_string(),
            Some("fence_ipmilan".to_string())
        )
    );
    // Pacemaker lists every name we ship, and no diverted file.
    let installed = facts.ok("installed");
    let start = installed.find('<').expect("XML");
    let doc = roxmltree::Document::parse(&installed[start..]).expect("stonith_admin XML");
    let listed: BTreeSet<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect();
    for name in &shipped {
        assert!(listed.contains(name), "stonith_admin does not list {name}");
    }
    assert!(
        listed.iter().all(|n| !n.contains("clusterlabs")),
        "a diverted file is listed as an agent"
    );
    // Pacemaker reads an alias's metadata from our binary under that name.
    assert_eq!(
        xml_root_name(&facts.ok("ilo3-metadata")),
        ("resource-agent".to_string(), Some("fence_ilo3".to_string()))
    );
    assert_eq!(facts.ok("sbd-path").trim(), "/usr/sbin/palisade-sbd");
    facts.ok("sbd-help");
    facts.ok("palisade-version");
    // Man pages: ours for the agents (from their metadata), sbd(8) and palisade's.
    assert_eq!(
        facts.ok("man-ipmilan").trim(),
        "/usr/share/man/man8/fence_ipmilan.8.gz"
    );
    assert!(facts.ok("man-ilo3").contains("fence_ilo3"));
    assert_eq!(
        facts.ok("man-sbd").trim(),
        "/usr/share/man/man8/palisade-sbd.8.gz"
    );
    facts.ok("man-palisade");
    facts.ok("verify");

    // Removal gives ClusterLabs' files back.
    facts.ok("remove");
    let after = diversions(&facts.ok("diversions-after"));
    assert!(
        after.values().all(|(_, by)| !by.starts_with("palisade")),
        "diversions left after removal: {after:?}"
    );
    assert!(facts
        .ok("sbd-owner-after")
        .starts_with("sbd: /usr/sbin/sbd"));
    assert_eq!(
        xml_root_name(&facts.ok("ipmilan-metadata-after")),
        (
            "resource-agent".to_string(),
            Some("fence_ipmilan".to_string())
        )
    );

    // The host saw none of it.
    assert!(
        host_state() == before,
        "the host's files or diversions changed"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
