//! fence_aws end to end against a real EC2 API: moto's server (`moto[server]`, through
//! tests/fixtures/moto_aws.sh) with instances node1, node2 and "fencer" (the instance the
//! metadata service names as the caller's own). Every action via argv and stdin, the EC2
//! calls the agent made (the server's action log), credentials from parameters,
//! environment and a profile, the race check before a stop, an endpoint that fails one
//! read after every change, and the same scenarios through ClusterLabs' fence_aws (boto3)
//! for exit codes and stdout lines.
//!
//! SAFETY: each test creates its own network namespace with only loopback up and no
//! route out; moto and every agent run inside it, and our agent always gets an explicit
//! loopback `--endpoint-url`, so a mistake fails closed instead of reaching AWS.

mod common;

use common::{built_binary, output_text, run_raw, Mode, Options, Outcome};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const PORT: u16 = 15500;
const CLUSTERLABS: &str = "/usr/sbin/fence_aws";

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ip")
}

/// A network namespace of this test: loopback up, nothing else, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Option<Netns> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "pal-aws-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        if !ip(&["netns", "add", &name]).status.success() {
            return None;
        }
        let ns = Netns(name);
        assert!(ip(&["-n", &ns.0, "link", "set", "lo", "up"])
            .status
            .success());
        // Fail closed: no route leaves this namespace.
        for family in ["-4", "-6"] {
            let routes = ip(&[family, "-n", &ns.0, "route", "show", "default"]);
            assert!(routes.stdout.is_empty(), "{}: a default route", ns.0);
        }
        Some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// moto in its own namespace, stopped by the PID its fixture printed.
struct Moto {
    dir: PathBuf,
    /// name -> instance id
    instances: Vec<(String, String)>,
    netns: Netns,
}

impl Moto {
    /// `None` (after the skip policy) when moto or the namespace cannot be had.
    fn start() -> Option<Moto> {
        let Some(netns) = Netns::new() else {
            testkit::skip::required("cannot create a network namespace (ip netns add)");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("palisade-moto-{}", netns.0));
        let out = fixture(&dir, &netns.0, "start");
        if !out.status.success() {
            testkit::skip::required(format!(
                "moto's EC2 server did not start (pip install 'moto[server]' boto3):\n{}",
                output_text(&out)
            ));
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let instances = text
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() == 3 && w[0] == "instance").then(|| (w[1].to_string(), w[2].to_string()))
            })
            .collect();
        Some(Moto {
            dir,
            instances,
            netns,
        })
    }

    fn id(&self, name: &str) -> String {
        self.instances
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("no instance {name}: {:?}", self.instances))
    }

    /// `(name, state)` of every instance as moto reports it (through boto3, not
    /// through an agent).
    fn states(&self) -> Vec<(String, String)> {
        let out = fixture(&self.dir, &self.netns.0, "state");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() == 3).then(|| (w[1].to_string(), w[2].to_string()))
            })
            .collect()
    }

    fn state(&self, name: &str) -> String {
        self.states()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no state for {name}"))
    }

    /// The EC2 actions asked for since the last call (`StopInstances true i-...`).
    fn take_actions(&self) -> Vec<String> {
        let path = self.dir.join("actions.log");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::write(&path, "");
        text.lines().map(str::to_string).collect()
    }

    fn changes(&self) -> Vec<String> {
        self.take_actions()
            .into_iter()
            .filter(|a| a.starts_with("StopInstances") || a.starts_with("StartInstances"))
            .collect()
    }

    /// Put every instance back to running (through our agent: on is idempotent).
    fn reset(&self) {
        for (name, state) in self.states() {
            if state != "running" {
                run(self, &ours(), Mode::Argv, self.opts(&name), "on").expect_code(0, "reset");
            }
        }
        self.take_actions();
    }

    /// Our agent's options for instance `name`: explicit loopback endpoint, region, keys.
    fn opts(&self, name: &str) -> Options {
        self.base().set("plug", self.id(name))
    }

    fn base(&self) -> Options {
        Options::new()
            .set("endpoint_url", format!("http://127.0.0.1:{PORT}"))
            .set("region", "us-east-1")
            .set("access_key", "testing")
            .set("secret_key", "testing")
    }

    /// The environment both agents run with: no proxies or CA bundle of the host, HOME
    /// in our directory (no profile of the host), and what ClusterLabs' agent needs to
    /// reach moto (an endpoint rule set, the metadata service through http_proxy).
    fn env(&self) -> Vec<String> {
        let out = fixture(&self.dir, &self.netns.0, "env");
        let mut env: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        env.push(format!("HOME={}", self.dir.display()));
        env
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = fixture(&self.dir, &self.netns.0, "stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(dir: &Path, netns: &str, cmd: &str) -> std::process::Output {
    Command::new("bash")
        .arg(common::repo_root().join("tests/fixtures/moto_aws.sh"))
        .arg(cmd)
        .env("MOTO_PORT", PORT.to_string())
        .env("MOTO_DIR", dir)
        .env("MOTO_NETNS", netns)
        .stdin(Stdio::null())
        .output()
        .expect("run tests/fixtures/moto_aws.sh")
}

fn ours() -> PathBuf {
    built_binary("fence_aws")
}

fn clusterlabs() -> Option<PathBuf> {
    let p = PathBuf::from(CLUSTERLABS);
    if p.is_file() {
        Some(p)
    } else {
        testkit::skip::optional(format!(
            "{CLUSTERLABS} not installed: comparison not possible"
        ));
        None
    }
}

/// Run `agent` inside the peer's namespace with [`Moto::env`] plus `extra`.
fn run_env(
    moto: &Moto,
    agent: &Path,
    mode: Mode,
    options: Options,
    action: &str,
    extra: &[&str],
) -> Outcome {
    let options = options.set("action", action);
    let mut args: Vec<String> = ["netns", "exec", &moto.netns.0, "env"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for var in [
        "AWS_CA_BUNDLE",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "ALL_PROXY",
        "all_proxy",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_EC2",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
    ] {
        args.push("-u".into());
        args.push(var.into());
    }
    args.extend(moto.env());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(agent.display().to_string());
    match mode {
        Mode::Argv => {
            args.extend(options.argv());
            run_raw(Path::new("ip"), &args, None, &[])
        }
        Mode::Stdin => run_raw(Path::new("ip"), &args, Some(&options.stdin()), &[]),
    }
}

fn run(moto: &Moto, agent: &Path, mode: Mode, options: Options, action: &str) -> Outcome {
    run_env(moto, agent, mode, options, action, &[])
}

#[test]
fn aws_every_action_credentials_and_missing_instances() {
    let Some(moto) = Moto::start() else { return };
    let node1 = moto.id("node1");
    let fencer = moto.id("fencer");
    for mode in [Mode::Argv, Mode::Stdin] {
        moto.reset();
        let what = |a: &str| format!("{mode:?} {a}");
        let o = || moto.opts("node1");
        run(&moto, &ours(), mode, o(), "status")
            .expect_code(0, &what("status"))
            .expect_line("Status: ON", &what("status"));
        moto.take_actions();
        run(&moto, &ours(), mode, o(), "off")
            .expect_code(0, &what("off"))
            .expect_line("Success: Powered OFF", &what("off"));
        let calls = moto.take_actions();
        assert_eq!(moto.state("node1"), "stopped");
        assert_eq!(
            calls,
            [
                format!("DescribeInstances instance-id {node1}"),
                format!("DescribeInstances instance-id {fencer}"),
                format!("StopInstances true {node1}"),
                format!("DescribeInstances instance-id {node1}"),
            ],
            "status, race check, forced stop, verification"
        );
        run(&moto, &ours(), mode, o(), "status")
            .expect_code(2, &what("status off"))
            .expect_line("Status: OFF", &what("status off"));
        run(&moto, &ours(), mode, o(), "off")
            .expect_code(0, &what("off again"))
            .expect_line("Success: Already OFF", &what("off again"));
        run(&moto, &ours(), mode, o(), "on")
            .expect_code(0, &what("on"))
            .expect_line("Success: Powered ON", &what("on"));
        assert_eq!(moto.state("node1"), "running");
        moto.take_actions();
        run(&moto, &ours(), mode, o().set("power_wait", 0), "reboot")
            .expect_code(0, &what("reboot"))
            .expect_line("Success: Rebooted", &what("reboot"));
        assert_eq!(moto.state("node1"), "running");
        assert_eq!(
            moto.changes(),
            [
                format!("StopInstances true {node1}"),
                format!("StartInstances {node1}")
            ]
        );
        run(&moto, &ours(), mode, moto.base(), "monitor").expect_code(0, &what("monitor"));
        let list = run(&moto, &ours(), mode, moto.base(), "list");
        list.expect_code(0, &what("list"));
        let mut ids: Vec<String> = moto
            .instances
            .iter()
            .map(|(_, id)| format!("{id},"))
            .collect();
        let mut listed = list.result_lines();
        ids.sort();
        listed.sort();
        assert_eq!(listed, ids);
        run(
            &moto,
            &ours(),
            mode,
            moto.base().set("filter", "tag:Name=node2"),
            "list",
        )
        .expect_code(0, &what("list filtered"))
        .expect_line(&format!("{},", moto.id("node2")), &what("list filtered"));
    }
    // An instance the account does not have: an error at the first read, nothing stopped.
    moto.take_actions();
    for action in ["status", "off", "reboot"] {
        let out = run(
            &moto,
            &ours(),
            Mode::Argv,
            moto.base().set("plug", "i-0123456789abcdef0"),
            action,
        );
        out.expect_code(1, action);
        assert!(out.result_lines().is_empty(), "{out:#?}");
        assert!(out.stderr.contains("does not exist"), "{out:#?}");
    }
    assert!(moto.changes().is_empty(), "nothing stopped or started");

    // Credentials from the environment and from a profile; the endpoint stays explicit.
    let no_keys = || {
        Options::new()
            .set("endpoint_url", format!("http://127.0.0.1:{PORT}"))
            .set("plug", &node1)
    };
    let env_keys = [
        "AWS_ACCESS_KEY_ID=envkey",
        "AWS_SECRET_ACCESS_KEY=envsecret",
        "AWS_DEFAULT_REGION=us-east-1",
    ];
    run_env(&moto, &ours(), Mode::Stdin, no_keys(), "status", &env_keys)
        .expect_code(0, "environment credentials")
        .expect_line("Status: ON", "environment credentials");
    std::fs::create_dir_all(moto.dir.join(".aws")).unwrap();
    std::fs::write(
        moto.dir.join(".aws/credentials"),
        "[fence]\naws_access_key_id = profilekey\naws_secret_access_key = profilesecret\n",
    )
    .unwrap();
    std::fs::write(
        moto.dir.join(".aws/config"),
        "[profile fence]\nregion = us-east-1\n",
    )
    .unwrap();
    run_env(
        &moto,
        &ours(),
        Mode::Argv,
        no_keys(),
        "status",
        &["AWS_PROFILE=fence"],
    )
    .expect_code(0, "profile credentials")
    .expect_line("Status: ON", "profile credentials");
    // No region anywhere: a usage error before any request.
    moto.take_actions();
    let out = run_env(
        &moto,
        &ours(),
        Mode::Argv,
        no_keys(),
        "status",
        &["AWS_PROFILE=none"],
    );
    out.expect_code(1, "no region");
    assert!(out.stderr.contains("region"), "{out:#?}");
    assert!(
        moto.take_actions().is_empty(),
        "no request without a region"
    );
}

/// ClusterLabs' race check: a node whose own instance is not running does not stop
/// another; without the metadata service the stop fails closed; --skip-race-check stops
/// without asking.
#[test]
fn aws_race_check_before_a_stop() {
    let Some(moto) = Moto::start() else { return };
    let node2 = moto.id("node2");
    // Our own instance ("fencer") stopped: off of node2 refused, node2 still running.
    run(
        &moto,
        &ours(),
        Mode::Argv,
        moto.opts("fencer").flag("skip_race_check"),
        "off",
    )
    .expect_code(0, "stop the fencer's own instance");
    moto.take_actions();
    let out = run(&moto, &ours(), Mode::Argv, moto.opts("node2"), "off");
    out.expect_code(1, "race check");
    assert!(out.stderr.contains("race check"), "{out:#?}");
    assert_eq!(moto.state("node2"), "running");
    assert!(moto.changes().is_empty(), "nothing stopped");
    moto.reset();
    // No metadata service (the default 169.254.169.254 has no route here).
    let out = run_env(
        &moto,
        &ours(),
        Mode::Argv,
        moto.opts("node2"),
        "off",
        &["AWS_EC2_METADATA_SERVICE_ENDPOINT="],
    );
    out.expect_code(1, "no metadata service");
    assert!(out.stderr.contains("metadata"), "{out:#?}");
    assert_eq!(moto.state("node2"), "running");
    run_env(
        &moto,
        &ours(),
        Mode::Stdin,
        moto.opts("node2").flag("skip_race_check"),
        "off",
        &["AWS_EC2_METADATA_SERVICE_ENDPOINT="],
    )
    .expect_code(0, "--skip-race-check")
    .expect_line("Success: Powered OFF", "--skip-race-check");
    assert_eq!(moto.changes(), [format!("StopInstances true {node2}")]);
    // The instance role's credentials from the metadata service when none are given.
    run_env(
        &moto,
        &ours(),
        Mode::Argv,
        Options::new()
            .set("endpoint_url", format!("http://127.0.0.1:{PORT}"))
            .set("region", "us-east-1")
            .set("plug", &node2),
        "on",
        &[],
    )
    .expect_code(0, "instance role credentials")
    .expect_line("Success: Powered ON", "instance role credentials");
}

/// An endpoint whose first DescribeInstances after every change answers 503: off, on
/// and reboot still succeed, one failed read per change.
#[test]
fn aws_verification_survives_a_failed_read_after_every_change() {
    let Some(moto) = Moto::start() else { return };
    std::fs::write(moto.dir.join("flaky"), "").unwrap();
    for mode in [Mode::Argv, Mode::Stdin] {
        moto.reset();
        let _ = std::fs::remove_file(moto.dir.join("pending"));
        let o = || moto.opts("node1").set("power_wait", 0);
        run(&moto, &ours(), mode, o(), "off")
            .expect_code(0, "off")
            .expect_line("Success: Powered OFF", "off");
        run(&moto, &ours(), mode, o(), "on")
            .expect_code(0, "on")
            .expect_line("Success: Powered ON", "on");
        run(&moto, &ours(), mode, o(), "reboot")
            .expect_code(0, "reboot")
            .expect_line("Success: Rebooted", "reboot");
        assert_eq!(moto.state("node1"), "running");
        let calls = moto.take_actions();
        let flaky = calls.iter().filter(|c| c.starts_with("FLAKY")).count();
        let changes = calls
            .iter()
            .filter(|c| c.starts_with("StopInstances") || c.starts_with("StartInstances"))
            .count();
        assert_eq!((flaky, changes), (4, 4), "{calls:#?}");
    }
}

/// ClusterLabs' fence_aws has no endpoint option: it reaches moto through the
/// environment of [`Moto::env`] (inside the same namespace).
fn without_endpoint(opts: &Options) -> Options {
    Options(
        opts.0
            .iter()
            .filter(|o| o.name != "endpoint_url")
            .cloned()
            .collect(),
    )
}

#[test]
fn aws_same_as_clusterlabs() {
    let Some(moto) = Moto::start() else { return };
    let Some(theirs) = clusterlabs() else { return };
    let node1 = || moto.opts("node1");
    let cases: Vec<(Options, &str)> = vec![
        (node1(), "status"),
        (node1(), "off"),
        (node1(), "on"),
        (moto.opts("node2").set("power_wait", 0), "reboot"),
        (moto.base(), "monitor"),
        (moto.base().set("filter", "tag:Name=node2"), "list"),
        (moto.base().set("plug", "i-0123456789abcdef0"), "status"),
        (moto.base().set("plug", "i-0123456789abcdef0"), "off"),
    ];
    for (opts, action) in cases {
        let what = format!("{action} {:?}", opts.argv());
        moto.reset();
        let t = run(&moto, &theirs, Mode::Argv, without_endpoint(&opts), action);
        let their_changes = moto.changes();
        moto.reset();
        let o = run(&moto, &ours(), Mode::Argv, opts, action);
        assert_eq!(
            o.code, t.code,
            "{what}: exit codes\nours {o:#?}\ntheirs {t:#?}"
        );
        assert_eq!(
            o.result_lines(),
            t.result_lines(),
            "{what}: stdout\nours {o:#?}\ntheirs {t:#?}"
        );
        assert_eq!(
            moto.changes(),
            their_changes,
            "{what}: the same EC2 changes"
        );
    }
    // list: the same ids (moto's order is its own, the same for both).
    moto.reset();
    let t = run(
        &moto,
        &theirs,
        Mode::Argv,
        without_endpoint(&moto.base()),
        "list",
    );
    let o = run(&moto, &ours(), Mode::Argv, moto.base(), "list");
    assert_eq!((o.code, o.result_lines()), (t.code, t.result_lines()));
}
