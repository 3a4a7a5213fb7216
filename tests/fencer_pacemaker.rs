//! Interop with pacemaker's own fencer (Debian `pacemaker`, `pacemaker-fenced -s`
//! stand-alone, driven by `stonith_admin`):
//! - our `fence_dummy` (reached as a `fence_*` link in /usr/sbin, the only place
//!   pacemaker looks) is registered, queried, validated and used for off/on/reboot, also
//!   behind a level whose first device fails;
//! - a spy agent shows that palisade calls agents exactly as pacemaker-fenced does (no
//!   argv, the same stdin lines, `PCMK_service`, own process group).
//!
//! Skipped (with a notice) when pacemaker is not installed or we are not root. Only one
//! pacemaker-fenced can run per host, so everything is one test. The host's /usr/sbin is
//! never changed: pacemaker-fenced runs in a private mount namespace of its own where a
//! read-only overlay puts a temp dir of `fence_*` links over /usr/sbin, and every
//! `stonith_admin` joins that namespace (it runs agents itself for --metadata and
//! --validate). IPC (/dev/shm, abstract sockets) is shared, as the network namespace is.
//! The fencer is stopped by its PID.

mod common_fencer;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common_fencer::*;

const FENCED: &str = "/usr/lib/pacemaker/pacemaker-fenced";
const STONITH_ADMIN: &str = "/usr/sbin/stonith_admin";

/// Run as `sh -c MOUNT_AND_EXEC sh LINKS PROGRAM ARGS...` right after `unshare --mount
/// --propagation private`: LINKS goes over /usr/sbin (read-only overlay, LINKS on top),
/// then the program replaces the shell (same PID).
const MOUNT_AND_EXEC: &str = r#"links=$1; shift
mount -t overlay palisade-test-agents -o "lowerdir=$links:/usr/sbin" /usr/sbin || exit 97
exec "$@""#;

/// A link `<links dir>/<name>` to one of our agents: seen as `/usr/sbin/<name>` only
/// inside the fencer's mount namespace.
struct AgentLink(PathBuf);

impl AgentLink {
    fn new(links: &Path, name: &str, to: &Path) -> AgentLink {
        let path = links.join(name);
        symlink(to, &path).expect("link agent into the links dir");
        AgentLink(path)
    }

    fn name(&self) -> &str {
        self.0
            .file_name()
            .and_then(|n| n.to_str())
            .expect("agent name")
    }
}

/// pacemaker-fenced in stand-alone mode, stopped by PID.
struct Fenced(Child);

impl Drop for Fenced {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: signalling the fencer this test started, by its PID.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let stopped = wait_until(Duration::from_secs(10), || {
            matches!(self.0.try_wait(), Ok(Some(_)))
        });
        if !stopped {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Fenced {
    /// `stonith_admin ARGS` inside the fencer's mount namespace (where the links are).
    fn admin(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--mount=/proc/{}/ns/mnt", self.0.id()))
            .arg("--")
            .arg(STONITH_ADMIN)
            .args(args)
            .output()
            .expect("run stonith_admin through nsenter")
    }
}

fn usable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let installed = Path::new(FENCED).is_file()
        && Path::new(STONITH_ADMIN).is_file()
        && ["unshare", "nsenter"]
            .iter()
            .all(|p| Path::new("/usr/bin").join(p).is_file());
    if !root || !installed {
        testkit::skip::required(format!(
            "pacemaker interop needs root, apt package pacemaker ({FENCED}, {STONITH_ADMIN}) \
             and util-linux (unshare, nsenter)"
        ));
    }
    root && installed
}

const SPY: &str = r#"input=$(cat)
rec=$(printf '%s\n' "$input" | sed -n 's/^record=//p')
# Periodic monitors (pacemaker's and palisade's device health checks) are not recorded.
case "$input" in *action=monitor*) rec= ;; esac
if [ -n "$rec" ]; then
  pgid=$(ps -o pgid= -p $$ | tr -d ' ')
  { echo "argc=$#"; echo "service=$PCMK_service"
    [ "$pgid" = "$$" ] && echo "leader=yes" || echo "leader=no"
    printf '%s\n' "$input" | sort; echo ---; } >> "$rec"
fi
case "$input" in *action=metadata*) cat <<'XML'
<?xml version="1.0" ?>
<resource-agent name="fence_spy" shortdesc="records how it is called">
<parameters><parameter name="port" unique="0" required="0"><content type="string"/></parameter></parameters>
<actions><action name="on"/><action name="off"/><action name="reboot"/><action name="status"/><action name="list"/><action name="monitor"/><action name="metadata"/><action name="validate-all"/></actions>
</resource-agent>
XML
;; esac
exit 0"#;

#[test]
fn pacemaker_fencer_uses_our_agent_and_calls_agents_like_palisade() {
    if !usable() {
        return;
    }
    let dir = TempDir::new("pacemaker");
    let links = dir.join("sbin");
    std::fs::create_dir(&links).expect("links dir");
    let pid = std::process::id();
    let dummy = AgentLink::new(&links, &format!("fence_pt{pid}_dummy"), &our_dummy());
    let spy_script = dir.join("spy.sh");
    write_script(&spy_script, SPY);
    let spy = AgentLink::new(&links, &format!("fence_pt{pid}_spy"), &spy_script);
    let on_host = |link: &AgentLink| Path::new("/usr/sbin").join(link.name()).exists();

    let log = dir.join("fenced.log");
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .args([MOUNT_AND_EXEC, "sh"])
        .arg(&links)
        .args([FENCED, "-s", "-l"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pacemaker-fenced");
    let mut fenced = Fenced(child);
    let up = wait_until(Duration::from_secs(15), || {
        fenced.admin(&["-L"]).status.success()
    });
    if !up {
        let exited = fenced.0.try_wait().ok().flatten();
        testkit::skip::required(format!(
            "pacemaker-fenced did not come up (exited: {exited:?}; 97: no overlay over /usr/sbin; \
             another one running?)\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ));
        return;
    }

    // stonith_admin --metadata / --validate run our agent themselves.
    let meta = fenced.admin(&["--metadata", "-a", dummy.name()]);
    assert!(meta.status.success(), "{}", show(&meta));
    assert!(String::from_utf8_lossy(&meta.stdout).contains("status_file"));
    let valid = fenced.admin(&["--validate", "-a", dummy.name(), "-o", "status_file=/tmp/x"]);
    assert!(valid.status.success(), "{}", show(&valid));

    // Register our fence_dummy (and a failing one as level 1) and fence through them.
    let node = status_file(&dir, "node1", "on");
    let node_param = format!("status_file={}", node.display());
    for (name, extra) in [("pt-fail", Some("type=fail")), ("pt-good", None)] {
        let mut args = vec![
            "--register",
            name,
            "--agent",
            dummy.name(),
            "-o",
            &node_param,
        ];
        args.extend(["-o", "pcmk_host_list=node1"]);
        if let Some(extra) = extra {
            args.extend(["-o", extra]);
        }
        let out = fenced.admin(&args);
        assert!(out.status.success(), "register {name}: {}", show(&out));
    }
    for (index, device) in [("1", "pt-fail"), ("2", "pt-good")] {
        let out = fenced.admin(&["--register-level", "node1", "--index", index, "-v", device]);
        assert!(out.status.success(), "level {index}: {}", show(&out));
    }
    let listed = fenced.admin(&["-l", "node1"]);
    assert!(listed.status.success(), "{}", show(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("pt-good"));
    let monitor = fenced.admin(&["-Q", "pt-good"]);
    assert!(monitor.status.success(), "{}", show(&monitor));

    let off = fenced.admin(&["-F", "node1", "-t", "30"]);
    assert!(
        off.status.success(),
        "{}\n{}",
        show(&off),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(read_state(&node), "off");
    let on = fenced.admin(&["-U", "node1", "-t", "30"]);
    assert!(on.status.success(), "{}", show(&on));
    assert_eq!(read_state(&node), "on");
    let reboot = fenced.admin(&["-B", "node1", "-t", "30"]);
    assert!(reboot.status.success(), "{}", show(&reboot));
    assert_eq!(read_state(&node), "on");
    let nobody = fenced.admin(&["-F", "node2", "-t", "10"]);
    assert_eq!(nobody.status.code(), Some(105), "{}", show(&nobody));

    // The same device through pacemaker and through palisade: identical invocations.
    let by_pacemaker = dir.join("pacemaker.rec");
    let by_palisade = dir.join("palisade.rec");
    let spy_params = |rec: &Path| {
        vec![
            format!("record={}", rec.display()),
            "ip=127.0.0.1".to_string(),
            "pcmk_host_map=node5:7".to_string(),
        ]
    };
    let mut args: Vec<String> = ["--register", "pt-spy", "--agent", spy.name()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for p in spy_params(&by_pacemaker) {
        args.push("-o".into());
        args.push(p);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = fenced.admin(&args);
    assert!(out.status.success(), "{}", show(&out));
    let out = fenced.admin(&["-F", "node5", "-t", "20"]);
    assert!(out.status.success(), "{}", show(&out));

    // palisade finds the same link by name in its agent-dirs (no namespace needed).
    let agent_dirs = format!("agent-dirs = [\"{}\"]", links.display());
    let daemon = Daemon::start("pacemaker-palisade", &agent_dirs, "");
    let mut args = vec![
        "register".to_string(),
        "pt-spy".to_string(),
        "--agent".to_string(),
        spy.name().to_string(),
    ];
    for p in spy_params(&by_palisade) {
        args.push("-o".into());
        args.push(p);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = daemon.cli(&args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = daemon.cli(&["fence", "node5", "--action", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let normalise = |path: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(path).expect("spy record");
        let first = text.split("---").next().unwrap_or("").to_string();
        first
            .lines()
            .map(|l| {
                if l.starts_with("record=") {
                    "record=<file>".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect()
    };
    let pacemaker_call = normalise(&by_pacemaker);
    assert_eq!(
        pacemaker_call,
        [
            "argc=0",
            "service=pacemaker-fenced",
            "leader=yes",
            "action=off",
            "ip=127.0.0.1",
            "nodename=node5",
            "port=7",
            "record=<file>"
        ]
    );
    assert_eq!(normalise(&by_palisade), pacemaker_call);
    drop(fenced);
    assert!(
        !on_host(&dummy) && !on_host(&spy),
        "a link reached the host's /usr/sbin"
    );
}
