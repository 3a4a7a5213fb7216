//! Which devices can fence a target, with real agents: without a host list the agent's
//! metadata decides (our and ClusterLabs' fence_dummy have no `list`: `status` is asked;
//! an agent with `list` is listed once and cached), configured or registered at runtime.

mod common_fencer;

use std::process::Output;

use common_fencer::*;
use serde_json::Value;

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)))
}

const LISTER: &str = r#"input=$(cat)
action=$(printf '%s\n' "$input" | sed -n 's/^action=//p')
case "$action" in
metadata) cat <<'XML'
<?xml version="1.0" ?>
<resource-agent name="fence_lister" shortdesc="lists two nodes">
<parameters/>
<actions><action name="on"/><action name="off"/><action name="reboot"/><action name="status"/><action name="list"/><action name="metadata"/></actions>
</resource-agent>
XML
;;
list) echo list >> "$COUNT_FILE_PLACEHOLDER"; printf 'node1,1,on\nnode2,2,off\n' ;;
*) exit 0 ;;
esac"#;

#[test]
fn metadata_decides_the_default_host_check() {
    let files = TempDir::new("target-files");
    let state = status_file(&files, "any", "on");
    let count = files.join("list-count");
    let lister = files.join("fence_lister");
    write_script(
        &lister,
        &LISTER.replace("$COUNT_FILE_PLACEHOLDER", &count.display().to_string()),
    );
    let body = format!(
        "[[device]]\nname = \"dummy\"\nagent = \"{}\"\nparams = {{ status_file = \"{}\" }}\n\
         [[device]]\nname = \"lister\"\nagent = \"{}\"\n",
        our_dummy().display(),
        state.display(),
        lister.display()
    );
    let daemon = Daemon::start("targeting", "", &body);
    let devices = json(&daemon.cli(&["devices", "--json"]));
    let checks: Vec<(String, String)> = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or("").to_string(),
                d["host_check"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            ("dummy".to_string(), "status".to_string()),
            ("lister".to_string(), "dynamic-list".to_string())
        ]
    );
    // node2 is listed by the lister and answered by fence_dummy's status.
    let q = json(&daemon.cli(&["query", "node2", "--json"]));
    assert_eq!(q["devices"], serde_json::json!(["dummy", "lister"]));
    let q = json(&daemon.cli(&["query", "node7", "--json"]));
    assert_eq!(q["devices"], serde_json::json!(["dummy"]));
    // Within a minute the list is not asked again.
    let listed = std::fs::read_to_string(&count).unwrap_or_default();
    assert_eq!(listed.lines().count(), 1, "list cached");
    let out = daemon.cli(&["fence", "node7", "--action", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(read_state(&state), "off");
}

#[test]
fn runtime_registration_of_clusterlabs_dummy_uses_status() {
    let Some(_) = clusterlabs_dummy() else {
        return;
    };
    let files = TempDir::new("target-cl-files");
    let state = status_file(&files, "any", "on");
    let daemon = Daemon::start("targeting-cl", "", "");
    let out = daemon.cli(&[
        "register",
        "cl",
        "--agent",
        "fence_dummy",
        "-o",
        &format!("status_file={}", state.display()),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let devices = json(&daemon.cli(&["devices", "--json"]));
    assert_eq!(devices["devices"][0]["host_check"], "status");
    let q = daemon.cli(&["query", "whatever"]);
    assert_eq!(q.status.code(), Some(0), "{}", show(&q));
    let out = daemon.cli(&["fence", "whatever", "--action", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(read_state(&state), "off");
}

const NO_REBOOT: &str = r#"input=$(cat)
action=$(printf '%s\n' "$input" | sed -n 's/^action=//p')
case "$action" in
metadata) cat <<'XML'
<?xml version="1.0" ?>
<resource-agent name="fence_noreboot" shortdesc="no reboot action">
<parameters/>
<actions><action name="on"/><action name="off"/><action name="status"/><action name="metadata"/></actions>
</resource-agent>
XML
;;
monitor) exit 0 ;;
*) echo "$action" >> "$ACTIONS_PLACEHOLDER" ;;
esac"#;

#[test]
fn reboot_runs_off_on_an_agent_without_reboot() {
    let files = TempDir::new("target-noreboot");
    let log = files.join("actions");
    let agent = files.join("fence_noreboot");
    write_script(
        &agent,
        &NO_REBOOT.replace("$ACTIONS_PLACEHOLDER", &log.display().to_string()),
    );
    let body = format!(
        "[[device]]\nname = \"configured\"\nagent = \"{}\"\nparams = {{ pcmk_host_list = \"node1\" }}\n",
        agent.display()
    );
    let daemon = Daemon::start("noreboot", "", &body);
    let out = daemon.cli(&[
        "register",
        "runtime",
        "--agent",
        agent.to_str().expect("utf-8"),
        "-o",
        "pcmk_host_list=node2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for node in ["node1", "node2"] {
        let out = daemon.cli(&["fence", node, "--action", "reboot"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    }
    let actions = std::fs::read_to_string(&log).expect("agent ran");
    assert_eq!(actions.lines().collect::<Vec<_>>(), ["off", "off"]);
}
