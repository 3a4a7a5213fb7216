//! The agent executor against real agents: our `fence_dummy`, ClusterLabs'
//! `/usr/sbin/fence_dummy`, and shell-script agents that record how they were called or
//! hang (killed with their whole process group at the timeout).

mod common_fencer;

use std::path::Path;
use std::time::Duration;

use common_fencer::*;
use palisade::fencer::executor::{run_agent, Caller};
use palisade::fencer::machine::{AgentOutcome, AgentStatus};

fn lines(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(path: &Path, pairs: &[(&str, &str)], timeout: Duration) -> AgentOutcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run_agent(
        path,
        &lines(pairs),
        timeout,
        Caller::Fencer,
        std::future::pending(),
    ))
}

fn dummy_off_on_status(agent: &Path) {
    let dir = TempDir::new("exec-dummy");
    let file = status_file(&dir, "node1.status", "on");
    let f = file.display().to_string();
    let off = run(
        agent,
        &[
            ("action", "off"),
            ("nodename", "node1"),
            ("port", "node1"),
            ("status_file", &f),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(off.status, AgentStatus::Exited(0), "{off:?}");
    assert_eq!(read_state(&file), "off");
    let status = run(
        agent,
        &[("action", "status"), ("status_file", &f)],
        Duration::from_secs(30),
    );
    assert_eq!(
        status.status,
        AgentStatus::Exited(2),
        "status of an off node: {status:?}"
    );
    let on = run(
        agent,
        &[
            ("action", "on"),
            ("nodename", "node1"),
            ("port", "node1"),
            ("status_file", &f),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(on.status, AgentStatus::Exited(0), "{on:?}");
    assert_eq!(read_state(&file), "on");
    // ClusterLabs' agent with type=fail waits for an "off" that never comes (under
    // PCMK_service=pacemaker-fenced its own timeout is disabled): killed or exit 1.
    let fail = run(
        agent,
        &[
            ("action", "off"),
            ("port", "node1"),
            ("status_file", &f),
            ("type", "fail"),
        ],
        Duration::from_secs(5),
    );
    assert!(
        matches!(fail.status, AgentStatus::Exited(1) | AgentStatus::TimedOut),
        "type=fail must fail: {fail:?}"
    );
    assert_eq!(read_state(&file), "on", "a failing device changes nothing");
}

#[test]
fn our_fence_dummy_through_stdin() {
    dummy_off_on_status(&our_dummy());
}

#[test]
fn clusterlabs_fence_dummy_through_stdin() {
    if let Some(agent) = clusterlabs_dummy() {
        dummy_off_on_status(&agent);
    }
}

#[test]
fn agent_gets_no_argv_stdin_lines_and_pacemaker_env() {
    let dir = TempDir::new("exec-spy");
    let agent = dir.join("fence_spy");
    let record = dir.join("record");
    write_script(
        &agent,
        &format!(
            "{{ echo \"argc=$#\"; echo \"service=$PCMK_service\"; echo \"pgid=$(ps -o pgid= -p $$ | tr -d ' ') pid=$$\"; cat; }} > {}\necho 'node1,1,on'\nexit 0",
            record.display()
        ),
    );
    let outcome = run(
        &agent,
        &[("action", "list"), ("ipaddr", "127.0.0.1")],
        Duration::from_secs(10),
    );
    assert_eq!(outcome.status, AgentStatus::Exited(0));
    assert_eq!(outcome.stdout, "node1,1,on\n");
    let text = std::fs::read_to_string(&record).expect("spy record");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("argc=0"));
    assert_eq!(lines.next(), Some("service=pacemaker-fenced"));
    let ids = lines.next().expect("pgid line");
    let (pgid, pid) = ids.split_once(' ').expect("two ids");
    assert_eq!(
        pgid.trim_start_matches("pgid="),
        pid.trim_start_matches("pid="),
        "the agent leads its own process group"
    );
    assert_eq!(
        lines.collect::<Vec<_>>(),
        ["action=list", "ipaddr=127.0.0.1"]
    );
}

#[test]
fn hanging_agent_and_its_children_are_killed_at_the_timeout() {
    let dir = TempDir::new("exec-hang");
    let agent = dir.join("fence_hang");
    let pids = dir.join("pids");
    // The agent starts a grandchild in the background, records both PIDs, then hangs.
    write_script(
        &agent,
        &format!(
            "sleep 300 &\necho \"$$ $!\" > {}\nsleep 300\n",
            pids.display()
        ),
    );
    // The executor's own verdict is the check (TimedOut, and the group gone below); a
    // runner that ignored its timeout would hang here on `sleep 300`, and the harness's
    // hang is the failure.
    let outcome = run(&agent, &[("action", "off")], Duration::from_millis(800));
    assert_eq!(outcome.status, AgentStatus::TimedOut, "{outcome:?}");
    let text = std::fs::read_to_string(&pids).expect("pids recorded");
    let ids: Vec<i32> = text
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    let (leader, grandchild) = (ids[0], ids[1]);
    assert!(
        wait_until(Duration::from_secs(5), || !group_alive(leader)),
        "process group {leader} still alive"
    );
    assert!(!process_alive(leader), "agent {leader} survived");
    assert!(
        !process_alive(grandchild),
        "background child {grandchild} survived"
    );
}

#[test]
fn missing_agent_is_a_spawn_failure() {
    let outcome = run(
        Path::new("/nonexistent/fence_nothing"),
        &[("action", "off")],
        Duration::from_secs(1),
    );
    assert!(
        matches!(outcome.status, AgentStatus::SpawnFailed(_)),
        "{outcome:?}"
    );
}
