//! The status page (`palisade web`) in a real browser, on a live cluster: three `palisade
//! node` daemons fencing through their fencers (`palisade daemon`) and each node's BMC, the
//! node running the service is cut off, fenced and its service moves; then `palisade web`
//! serves a survivor's view and headless Chromium (Debian's package) loads it. The test
//! reads the facts from the DOM Chromium rendered (each row's `data-*` attributes) and from
//! `/status.json`: the fenced node, the resource on its new node, the fence in the history
//! with its attempt. A token is required once the page listens off loopback. The
//! screenshot stays in the build output (`target/status-page/`).
//!
//! Everything runs inside the survivor's network namespace (the page, the browser): the
//! browser can reach nothing but that namespace.

mod common_cluster;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common_cluster::*;

const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// `palisade web`, stopped on drop (by PID).
struct Web(Child);

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_web(c: &Cluster, node: usize, listen: &str, token_file: Option<&Path>) -> Web {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &c.netns(node)])
        .arg(env!("CARGO_BIN_EXE_palisade"))
        .args(["web", "--listen", listen, "--refresh", "2"])
        .arg("--node-socket")
        .arg(c.dir.join(format!("node{node}.sock")))
        .arg("--fencer-socket")
        .arg(c.fencer_socket(node));
    if let Some(f) = token_file {
        cmd.arg("--token-file").arg(f);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start palisade web");
    Web(child)
}

/// GET `url` from inside node `node`'s namespace: (HTTP status, body).
fn get(c: &Cluster, node: usize, url: &str) -> Option<(u16, String)> {
    let out = Command::new("ip")
        .args(["netns", "exec", &c.netns(node), "curl", "-s", "-m", "5"])
        .args(["-w", "\n%{http_code}", url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_string()))
}

/// The attributes of every element whose `class` is `class` in an HTML text (the page's
/// rows carry their facts as `data-*` attributes).
fn elements(html: &str, class: &str) -> Vec<BTreeMap<String, String>> {
    let marker = format!("class=\"{class}\"");
    let mut found = Vec::new();
    for (at, _) in html.match_indices(&marker) {
        let start = html[..at].rfind('<').unwrap_or(0);
        let end = at + html[at..].find('>').unwrap_or(0);
        let tag = &html[start..end];
        let mut attrs = BTreeMap::new();
        let mut rest = tag;
        while let Some(eq) = rest.find("=\"") {
            let name = rest[..eq]
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .to_string();
            let after = &rest[eq + 2..];
            let Some(close) = after.find('"') else { break };
            attrs.insert(name, after[..close].to_string());
            rest = &after[close + 1..];
        }
        found.push(attrs);
    }
    found
}

fn build_output() -> PathBuf {
    // target/<profile>/deps/<test> -> target/status-page
    let exe = std::env::current_exe().expect("test binary");
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let dir = target.join("status-page");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Load `url` in headless Chromium inside node `node`'s namespace: the DOM after load,
/// and a screenshot at `png`.
fn chromium(c: &Cluster, node: usize, url: &str, png: &Path) -> String {
    let profile = c.dir.join(format!("chromium-profile-{node}"));
    let out = Command::new("ip")
        .args(["netns", "exec", &c.netns(node), "timeout", "60", CHROMIUM])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .args(["--dump-dom", url])
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("bytes written to file"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_status_page_shows_a_fenced_node_and_a_moved_resource_in_a_browser() {
    if !Path::new(CHROMIUM).exists() {
        return testkit::skip::required("chromium is not installed (apt-get install chromium)");
    }
    let setup = Setup {
        rings: 1,
        via_fencer: true,
        ..Setup::default()
    };
    let Some(mut c) = lab("w", setup) else {
        return;
    };
    c.start_all();
    let owner = wait_for_owner(&c, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));
    let cut = now_ms();
    let (new_owner, _) = failover(&mut c, owner, Duration::from_secs(15), |c| {
        c.cut(owner, None)
    });
    let victim = format!("node{owner}");
    let fenced = wait_until(Duration::from_secs(15), || {
        c.events()
            .iter()
            .any(|e| e.at >= cut && e.kind == "fence_confirmed" && e.str("target") == victim)
    });
    assert!(fenced, "no confirmed fence:\n{}", c.timeline_text(cut));
    // The page of the node that asked for the fence (its fencer holds the history).
    let request = c
        .events()
        .into_iter()
        .find(|e| e.at >= cut && e.kind == "fence_request")
        .expect("fence request");
    let viewer = node_number(&request.node);

    let _web = start_web(&c, viewer, "127.0.0.1:7410", None);
    let up = wait_until(Duration::from_secs(10), || {
        get(&c, viewer, "http://127.0.0.1:7410/status.json").is_some_and(|(code, _)| code == 200)
    });
    assert!(up, "palisade web did not answer");

    // The JSON snapshot: the same facts, typed.
    let (_, body) = get(&c, viewer, "http://127.0.0.1:7410/status.json").expect("status.json");
    let snap: serde_json::Value = serde_json::from_str(&body).expect("JSON snapshot");
    let status = &snap["cluster"]["answer"];
    assert_eq!(status["node"], format!("node{viewer}"), "{snap}");
    let history = snap["history"]["answer"].as_array().expect("history");
    assert!(
        history.iter().any(|e| e["target"] == victim.as_str()),
        "the fence is not in the history: {snap}"
    );

    // The browser's DOM.
    let png = build_output().join("status-page.png");
    let _ = std::fs::remove_file(&png);
    let dom = chromium(&c, viewer, "http://127.0.0.1:7410/", &png);
    let nodes = elements(&dom, "node");
    let state = |name: &str| {
        nodes
            .iter()
            .find(|n| n.get("data-node").map(String::as_str) == Some(name))
            .and_then(|n| n.get("data-state").cloned())
    };
    assert_eq!(
        state(&victim).as_deref(),
        Some("offline (fenced)"),
        "DOM:\n{dom}"
    );
    assert_eq!(
        state(&format!("node{new_owner}")).as_deref(),
        Some("online"),
        "DOM:\n{dom}"
    );
    let moved = elements(&dom, "resource")
        .into_iter()
        .any(|r| r.get("data-running-on") == Some(&format!("node{new_owner}")));
    assert!(moved, "no resource shown on node{new_owner}:\n{dom}");
    let fences = elements(&dom, "fence");
    assert!(
        fences.iter().any(|f| f.get("data-target") == Some(&victim)
            && f.get("data-result").map(String::as_str) == Some("done")),
        "the fence of {victim} is not shown as done:\n{dom}"
    );
    assert!(
        elements(&dom, "attempt")
            .iter()
            .any(|a| a.get("data-ok").map(String::as_str) == Some("true")),
        "no successful attempt shown:\n{dom}"
    );
    let devices = elements(&dom, "device");
    assert_eq!(
        devices.len(),
        2,
        "the viewer's fencer has a device per other node:\n{dom}"
    );
    for d in &devices {
        let health = d.get("data-health").map(String::as_str);
        assert!(
            matches!(health, Some("healthy" | "failing" | "unknown")),
            "device health shown: {d:?}"
        );
    }
    assert!(
        std::fs::metadata(&png).is_ok_and(|m| m.len() > 1000),
        "no screenshot at {}",
        png.display()
    );

    // Off loopback, the token is required (the node's cluster address).
    let token_file = c.dir.join("web.token");
    std::fs::write(&token_file, "palisade-web-test-token-0123\n").expect("token");
    let _ = std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    );
    let _secured = start_web(&c, viewer, "0.0.0.0:7411", Some(&token_file));
    let answered = wait_until(Duration::from_secs(10), || {
        get(&c, viewer, "http://127.0.0.1:7411/").is_some()
    });
    assert!(answered, "palisade web with a token did not answer");
    assert_eq!(
        get(&c, viewer, "http://127.0.0.1:7411/").map(|r| r.0),
        Some(401)
    );
    let with_token = "http://127.0.0.1:7411/?token=palisade-web-test-token-0123";
    assert_eq!(get(&c, viewer, with_token).map(|r| r.0), Some(200));
    let png = build_output().join("status-page-token.png");
    let dom = chromium(&c, viewer, with_token, &png);
    assert_eq!(
        elements(&dom, "node").len(),
        3,
        "the page behind a token shows all three nodes:\n{dom}"
    );
    // Without a token it would not even start off loopback.
    let refused = Command::new("ip")
        .args(["netns", "exec", &c.netns(viewer)])
        .arg(env!("CARGO_BIN_EXE_palisade"))
        .args(["web", "--listen", "0.0.0.0:7412"])
        .output()
        .expect("palisade web");
    assert_eq!(refused.status.code(), Some(2), "usage error expected");
}
