//! The pacemaker servant's health table and crm_mon parsing.

use super::crm_mon::*;
use super::*;

const XML: &str = r#"<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">
  <summary>
    <stack type="corosync"/>
    <current_dc present="true" version="2.1.5-a3f44794f94" name="node1" id="1" with_quorum="true" mixed_version="false"/>
    <nodes_configured number="3"/>
    <cluster_options stonith-enabled="false" symmetric-cluster="true" no-quorum-policy="stop" maintenance-mode="false" stop-all-resources="false"/>
  </summary>
  <nodes>
    <node name="node1" id="1" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" expected_up="true" is_dc="true" resources_running="1" type="member"/>
    <node name="node2" id="2" online="false" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="true" shutdown="false" expected_up="true" is_dc="false" resources_running="0" type="member"/>
  </nodes>
  <resources>
    <resource id="dummy" resource_agent="ocf:pacemaker:Dummy" role="Started" active="true" nodes_running_on="1">
      <node name="node1" id="1" cached="true"/>
    </resource>
  </resources>
  <status code="0" message="OK"/>
</pacemaker-result>"#;

#[test]
fn crm_mon_xml_is_parsed() {
    let s = parse(XML).unwrap();
    assert!(s.dc_present && s.have_quorum);
    assert_eq!(s.no_quorum_policy, NoQuorumPolicy::Stop);
    assert_eq!(s.nodes.len(), 2, "{:?}", s.nodes);
    assert!(s.nodes[0].online && s.nodes[0].resources_running == 1);
    assert!(!s.nodes[1].online && s.nodes[1].unclean);
    assert!(parse("<pacemaker-result/>").is_err());
}

fn status(have_quorum: bool, policy: NoQuorumPolicy) -> ClusterStatus {
    ClusterStatus {
        dc_present: true,
        have_quorum,
        no_quorum_policy: policy,
        nodes: vec![NodeStatus {
            name: "Node1".into(),
            online: true,
            ..NodeStatus::default()
        }],
    }
}

#[test]
fn health_table() {
    use ServantHealth::*;
    let mut a = Assessor::default();
    let mut no_dc = status(true, NoQuorumPolicy::Stop);
    no_dc.dc_present = false;
    assert_eq!(a.assess(&no_dc, "node1", 0).0, Transient);
    assert_eq!(
        a.assess(&status(true, NoQuorumPolicy::Stop), "node9", 0).0,
        Unhealthy
    );
    // Not quorate before ever having quorum: online (diskless), quorum lost with disks.
    assert_eq!(
        a.assess(&status(false, NoQuorumPolicy::Stop), "node1", 0).0,
        Online
    );
    assert_eq!(
        a.assess(&status(false, NoQuorumPolicy::Stop), "node1", 1).0,
        Unhealthy
    );
    assert_eq!(
        a.assess(&status(true, NoQuorumPolicy::Stop), "node1", 0).0,
        Online
    );
    for (policy, want) in [
        (NoQuorumPolicy::Stop, Transient),
        (NoQuorumPolicy::Freeze, Transient),
        (NoQuorumPolicy::Ignore, Transient),
        (NoQuorumPolicy::Demote, Transient),
        (NoQuorumPolicy::Suicide, Unhealthy),
    ] {
        assert_eq!(
            a.assess(&status(false, policy), "node1", 0).0,
            want,
            "{policy:?}"
        );
    }
    let mut node = status(true, NoQuorumPolicy::Stop);
    node.nodes[0].unclean = true;
    assert_eq!(a.assess(&node, "node1", 0).0, Unhealthy);
    node.nodes[0].unclean = false;
    node.nodes[0].pending = true;
    assert_eq!(a.assess(&node, "node1", 0).0, Transient);
    node.nodes[0].pending = false;
    node.nodes[0].online = false;
    assert_eq!(a.assess(&node, "node1", 0).0, Unhealthy);
}

#[test]
fn a_clean_shutdown_is_graceful_only_without_start_up_syncing() {
    let mut a = Assessor::default();
    let mut s = status(true, NoQuorumPolicy::Stop);
    s.nodes[0].shutdown = true;
    s.nodes[0].resources_running = 1;
    a.assess(&s, "node1", 0);
    assert!(!a.clone().disconnected(false), "resources still running");
    s.nodes[0].resources_running = 0;
    a.assess(&s, "node1", 0);
    assert!(
        !a.clone().disconnected(true),
        "with syncing pacemakerd says it"
    );
    assert!(a.disconnected(false));
}

#[test]
fn pacemakerd_gate() {
    let ping = |state, last_good| Ping {
        state,
        last_good,
        status: 0,
    };
    let wd = Duration::from_secs(5);
    assert!(pacemakerd_ok(&ping(PacemakerdState::Running, 100), 102, wd));
    assert!(!pacemakerd_ok(
        &ping(PacemakerdState::Running, 100),
        105,
        wd
    ));
    assert!(!pacemakerd_ok(&ping(PacemakerdState::Running, 0), 1, wd));
    assert!(!pacemakerd_ok(
        &ping(PacemakerdState::WaitForPing, 100),
        100,
        wd
    ));
    assert!(pacemakerd_ok(
        &ping(PacemakerdState::ShuttingDown, 100),
        100,
        wd
    ));
}

#[test]
fn crm_mon_runs_after_a_change_a_reconnect_or_the_safety_interval_only() {
    let t0 = Instant::now();
    let every = Duration::from_secs(30);
    let mut p = RefreshPolicy::new(every);
    // Nothing asked yet: due.
    assert!(p.due(t0));
    p.refreshed(t0);
    // Quiet CIB: not due until the safety interval.
    assert!(!p.due(t0 + Duration::from_secs(1)));
    assert!(!p.due(t0 + Duration::from_secs(29)));
    assert!(p.due(t0 + every));
    // A notification (or a new connection) makes it due at once, once.
    p.changed();
    assert!(p.due(t0 + Duration::from_secs(2)));
    p.refreshed(t0 + Duration::from_secs(2));
    assert!(!p.due(t0 + Duration::from_secs(3)));
    // A failed crm_mon leaves it due (the servant calls changed()).
    p.changed();
    assert!(p.due(t0 + Duration::from_secs(4)));
}

#[test]
fn cib_requests_are_pacemaker_2_1s_client_protocol() {
    use super::cib::request;
    assert_eq!(
        request::register(),
        r#"<cib_command t="cib" cib_op="register" cib_clientname="sbd" cib_callopt="4096"/>"#
    );
    assert_eq!(
        request::notify(true),
        r#"<cib-callback cib_op="cib_notify" cib_notify_type="cib_diff_notify" cib_notify_activate="1"/>"#
    );
    // sync (0x1000) + local scope (0x100)
    assert_eq!(
        request::noop(7),
        r#"<cib_command t="cib" cib_op="noop" cib_callid="7" cib_callopt="4352"/>"#
    );
}
