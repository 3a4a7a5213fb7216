//! Import of heartbeat's files, with a pair of nodes described the way heartbeat's
//! documentation does (in our own words): timers, media, auto_failback, ping nodes,
//! haresources groups (bare IP, IPaddr with netmask and interface, Filesystem arguments,
//! init scripts), and authkeys with sha1 / md5 / crc.

use std::time::Duration;

use super::*;
use crate::fencer::duration::Moment;
use crate::placement::state::{ClusterState, NodeState};
use crate::placement::{schedule, ActionKind, Config};

const HA_CF: &str = "\
# heartbeat for the web pair
logfacility     local0
keepalive 2
deadtime 30
warntime 10
initdead 120
udpport 694
bcast eth0          # the crossover cable
ucast eth1 10.0.0.2
mcast eth2 225.0.0.1 694 1 0
auto_failback on
node    alpha.example.com
node    beta.example.com
ping 10.0.0.254
";

const HARESOURCES: &str = "\
# alpha serves the web site, beta the database
alpha.example.com 192.168.1.5 httpd
beta.example.com IPaddr::135.9.8.7/24/eth0/135.9.8.210 \\
    Filesystem::/dev/sda1::/data1::ext2 mysql   # continued line
";

const AUTHKEYS: &str = "\
auth 1
1 sha1 PutYourSuperSecretKeyHere
2 md5 an-older-secret
";

fn full() -> Imported {
    import(&Sources {
        ha_cf: HA_CF,
        haresources: Some(HARESOURCES),
        authkeys: Some(AUTHKEYS),
        authkeys_mode: Some(0o600),
        ..Sources::default()
    })
    .expect("imports")
}

fn has(warnings: &[String], text: &str) -> bool {
    warnings.iter().any(|w| w.contains(text))
}

#[test]
fn ha_cf_timers_media_and_nodes() {
    let out = full();
    let c = &out.config;
    assert_eq!(c.timers.keepalive, "2s");
    assert_eq!(c.timers.deadtime, "30s");
    assert_eq!(c.timers.warntime, "10s");
    assert_eq!(c.timers.initdead, "120s");
    assert_eq!(c.cluster.port, 694);
    assert_eq!(c.cluster.id, cluster_id("linux-ha"));
    // Two nodes and a ping node: the ping node breaks the tie instead of two-node.
    assert!(!c.quorum.two_node);
    assert_eq!(c.quorum.ping_targets, Some(vec!["10.0.0.254".to_string()]));
    assert_eq!(c.quorum.ping_deadtime, None);
    let names: Vec<&str> = c.node.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["alpha.example.com", "beta.example.com"]);
    assert_eq!(c.node[1].id, 2);
    assert!(c.options.auto_failback);
    assert_eq!(c.options.resource_stickiness, None);
    assert!(has(
        &out.warnings,
        "'logfacility' has no palisade equivalent"
    ));
    assert!(has(&out.warnings, "fill in [[node]] addresses"));
    let mut w = Warnings::new();
    let ha = hacf::parse(HA_CF, &mut w).expect("ha.cf");
    assert_eq!(
        ha.media,
        vec![
            hacf::Medium::Broadcast(vec!["eth0".into()]),
            hacf::Medium::Unicast {
                interface: "eth1".into(),
                peer: "10.0.0.2".parse().expect("ip"),
            },
            hacf::Medium::Multicast {
                interface: "eth2".into(),
                group: "225.0.0.1".parse().expect("ip"),
                port: 694,
                ttl: 1,
                looped: false,
            },
        ]
    );
}

#[test]
fn haresources_groups_agents_and_arguments() {
    let c = full().config;
    let agent = |name: &str| {
        c.primitive
            .iter()
            .find(|p| p.name == name)
            .map(|p| (p.agent.clone(), p.params.clone()))
            .unwrap_or_else(|| panic!("no primitive {name}: {:#?}", c.primitive))
    };
    let (a, p) = agent("ip-192.168.1.5");
    assert_eq!(a, "ocf:heartbeat:IPaddr2");
    assert_eq!(p.get("ip").map(String::as_str), Some("192.168.1.5"));
    assert_eq!(agent("httpd").0, "lsb:httpd");
    let (_, p) = agent("ip-135.9.8.7");
    let want: BTreeMap<String, String> = [
        ("ip", "135.9.8.7"),
        ("cidr_netmask", "24"),
        ("nic", "eth0"),
        ("broadcast", "135.9.8.210"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(p, want);
    let (a, p) = agent("fs-data1");
    assert_eq!(a, "ocf:heartbeat:Filesystem");
    assert_eq!(p.get("device").map(String::as_str), Some("/dev/sda1"));
    assert_eq!(p.get("directory").map(String::as_str), Some("/data1"));
    assert_eq!(p.get("fstype").map(String::as_str), Some("ext2"));
    assert_eq!(agent("mysql").0, "lsb:mysql");
    assert_eq!(c.group.len(), 2);
    assert_eq!(c.group[0].name, "group-httpd");
    assert_eq!(c.group[0].members, ["ip-192.168.1.5", "httpd"]);
    assert_eq!(c.group[1].members, ["ip-135.9.8.7", "fs-data1", "mysql"]);
    let home = &c.location[0];
    assert_eq!(home.resource, "group-httpd");
    assert_eq!(home.node, "alpha.example.com");
    assert_eq!(home.score, HOME_SCORE);
    assert_eq!(c.location.len(), 2, "{:#?}", c.location);
    assert!(
        c.primitive.iter().all(|p| p.agent != "ocf:pacemaker:ping"),
        "ping nodes are a quorum tie-breaker, not a resource"
    );
}

#[test]
fn the_placement_sections_are_a_valid_configuration_that_schedules_home() {
    let out = full();
    let table = out.config.placement_table().expect("table");
    let config = Config::from_toml_table(table).expect("placement config accepted");
    let mut state = ClusterState::default();
    for n in ["alpha.example.com", "beta.example.com"] {
        let mut node = NodeState::online();
        node.attributes.insert("pingd".into(), "100".into());
        state.nodes.insert(n.into(), node);
    }
    let plan = schedule(&state, &config, Moment::default());
    let starts: Vec<(String, String)> = plan
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Start && a.resource.as_deref() != Some("ping-clone"))
        .map(|a| (a.resource.clone().unwrap_or_default(), a.node.clone()))
        .collect();
    let on = |n: &str| -> Vec<&str> {
        starts
            .iter()
            .filter(|(_, node)| node == n)
            .map(|(r, _)| r.as_str())
            .collect()
    };
    // In haresources order: left to right.
    assert_eq!(on("alpha.example.com"), ["ip-192.168.1.5", "httpd"]);
    assert_eq!(
        on("beta.example.com"),
        ["ip-135.9.8.7", "fs-data1", "mysql"]
    );
    // The whole text is TOML, with the node sections.
    let text = out.config.to_toml().expect("toml");
    let parsed: toml::Table = toml::from_str(&text).expect("parses back");
    assert!(
        parsed.contains_key("node") && parsed.contains_key("timers"),
        "{text}"
    );
    assert!(text.contains("[[group]]"), "{text}");
}

const ADDRESSES: &[&str] = &[
    "alpha.example.com=10.0.0.1,10.1.0.1",
    "beta.example.com=10.0.0.2,10.1.0.2",
];

fn with_addresses() -> Imported {
    let addresses: Vec<String> = ADDRESSES.iter().map(|a| a.to_string()).collect();
    import(&Sources {
        ha_cf: HA_CF,
        haresources: Some(HARESOURCES),
        authkeys: Some(AUTHKEYS),
        authkeys_mode: Some(0o600),
        addresses: &addresses,
        key_file: Some("/tmp/imported.key"),
    })
    .expect("imports")
}

#[test]
fn the_output_is_a_node_configuration_palisade_node_accepts() {
    let out = with_addresses();
    let text = out.config.to_toml().expect("toml");
    assert!(
        text.starts_with("# palisade configuration imported"),
        "{text}"
    );
    let node = crate::node::config::parse(&text, Some("beta.example.com"), |path| {
        assert_eq!(path, std::path::Path::new("/tmp/imported.key"));
        Ok(vec![7; 32])
    })
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(node.me, 2);
    assert_eq!(node.rings(), 2);
    assert_eq!(node.port, 694);
    assert_eq!(node.timers.deadtime, Duration::from_secs(30));
    assert!(!node.quorum.two_node);
    let ping = node.tie_breakers.ping.clone().expect("ping targets");
    assert_eq!(ping.targets, ["10.0.0.254".parse::<IpAddr>().expect("ip")]);
    assert_eq!(
        node.fencing.via,
        crate::node::config::FenceVia::Api("/run/palisade/fencer.sock".into())
    );
    // haresources order, each resource on its line's node first.
    let resources: Vec<(&str, &str, Vec<u32>)> = node
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.kind.as_str(), r.allowed.clone()))
        .collect();
    assert_eq!(
        resources,
        [
            ("ip-192.168.1.5", "IPaddr2", vec![1, 2]),
            ("httpd", "httpd", vec![1, 2]),
            ("ip-135.9.8.7", "IPaddr2", vec![2, 1]),
            ("fs-data1", "Filesystem", vec![2, 1]),
            ("mysql", "mysql", vec![2, 1]),
        ]
    );
    use crate::placement::config::AgentClass;
    assert_eq!(node.resources[1].class, AgentClass::Lsb);
    let fs = &node.resources[3];
    assert_eq!(fs.params["device"], "/dev/sda1");
    assert_eq!(fs.params["directory"], "/data1");
    assert_eq!(fs.params["fstype"], "ext2");
    assert_eq!(fs.monitor_interval, Duration::from_secs(10));
    // Groups in start order, auto_failback as the option.
    let groups: Vec<(&str, Vec<&str>)> = node
        .placement
        .groups
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.members.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("group-httpd", vec!["ip-192.168.1.5", "httpd"]),
            ("group-mysql", vec!["ip-135.9.8.7", "fs-data1", "mysql"]),
        ]
    );
    assert!(node.placement.options.auto_failback);
    for w in [
        "ping nodes (10.0.0.254) imported as [quorum] ping-targets",
        "imported as ocf:heartbeat:IPaddr2",
        "add a [[ring]] with mcast-group = \"225.0.0.1\", mcast-port = 694, mcast-ttl = 1",
        "fencing goes through the fencer daemon",
    ] {
        assert!(
            has(&out.warnings, w),
            "no warning {w:?}: {:#?}",
            out.warnings
        );
    }
    assert!(!has(&out.warnings, "fill in [[node]] addresses"));
    // Without addresses the admin is told to fill them in, with ha.cf's ucast peers.
    assert!(has(
        &full().warnings,
        "or import with --addresses 'NODE=IP[,IP] ...' (ucast peers in ha.cf: 10.0.0.2)"
    ));
}

#[test]
fn addresses_are_checked() {
    let nodes = vec!["a".to_string(), "b".to_string()];
    let ok = node_addresses(&["a=10.0.0.1".into(), "b=10.0.0.2".into()], &nodes).expect("ok");
    assert_eq!(ok["b"], vec!["10.0.0.2".parse::<IpAddr>().expect("ip")]);
    let cases: [(&[&str], &str); 6] = [
        (&["a"], "expected NODE=IP"),
        (&["c=10.0.0.1"], "'c' is not a 'node' of ha.cf"),
        (&["a=10.0.0.x"], "'10.0.0.x' is not an IP address"),
        (&["a=1.1.1.1,1.1.1.2,1.1.1.3"], "at most two rings"),
        (
            &["a=1.1.1.1", "b=1.1.1.2,1.1.1.3"],
            "same number of addresses",
        ),
        (&["a=1.1.1.1", "a=1.1.1.2"], "'a' given twice"),
    ];
    for (specs, wanted) in cases {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        let e = node_addresses(&specs, &nodes)
            .expect_err(wanted)
            .to_string();
        assert!(e.starts_with("--addresses "), "{e}");
        assert!(e.contains(wanted), "wanted '{wanted}' in '{e}'");
    }
}

#[test]
fn auto_failback_off_is_strong_stickiness() {
    let ha = HA_CF.replace("auto_failback on", "auto_failback off");
    let out = import(&Sources {
        ha_cf: &ha,
        haresources: Some("alpha.example.com 10.1.1.1 httpd\n"),
        ..Sources::default()
    })
    .expect("imports");
    assert!(!out.config.options.auto_failback);
    assert_eq!(
        out.config.options.resource_stickiness,
        Some(NO_FAILBACK_STICKINESS)
    );
    let legacy = import(&Sources {
        ha_cf: &HA_CF.replace("auto_failback on", "auto_failback legacy"),
        ..Sources::default()
    })
    .expect("imports");
    assert!(legacy.config.options.auto_failback);
}

#[test]
fn heartbeat_defaults() {
    let mut w = Warnings::new();
    let ha = hacf::parse("node a b\nbcast eth0\n", &mut w).expect("minimal");
    assert_eq!(ha.timers.keepalive, Duration::from_secs(1));
    assert_eq!(ha.timers.deadtime, Duration::from_secs(30));
    assert_eq!(ha.timers.warntime, Duration::from_secs(15));
    assert_eq!(ha.timers.initdead, Duration::from_secs(30));
    assert_eq!(ha.udpport, hacf::HEARTBEAT_PORT);
    assert_eq!(ha.auto_failback, hacf::AutoFailback::Legacy);
    assert!(has(&w, "'legacy' is imported as 'on'"));
    assert_eq!(
        hacf::default_initdead(Duration::from_secs(5)),
        Duration::from_secs(12)
    );
    assert_eq!(
        hacf::default_initdead(Duration::from_secs(8)),
        Duration::from_secs(16)
    );
    assert_eq!(hacf::parse_time("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(hacf::parse_time("1.5"), Some(Duration::from_millis(1500)));
    assert_eq!(hacf::parse_time("-1"), None);
    for yes in ["true", "on", "yes", "y", "1", "ON"] {
        assert_eq!(hacf::parse_bool(yes), Some(true));
    }
    for no in ["false", "off", "no", "n", "0"] {
        assert_eq!(hacf::parse_bool(no), Some(false));
    }
    let mut w = Warnings::new();
    let ha = hacf::parse(
        "node a b\nkeepalive 200ms\ndeadtime 1\nbcast eth0\nudpport 5405\n",
        &mut w,
    )
    .expect("ms");
    assert_eq!(ha.timers.initdead, Duration::from_secs(12));
    assert_eq!(ha.udpport, 5405);
    assert!(has(&w, "udpport comes after the medium on line 4"));
    assert!(!has(&w, "initdead"));
}

#[test]
fn ha_cf_errors_name_the_line() {
    let cases = [
        ("node a\nkeepalive 10\ndeadtime 15\n", "deadtime"),
        ("node a\ndeadtime 30\ninitdead 20\n", "initdead"),
        ("node a\nkeepalive two\n", "ha.cf line 2: keepalive 'two'"),
        (
            "node a\nheartbeats 3\n",
            "line 2: unknown directive 'heartbeats'",
        ),
        (
            "node a\nmcast eth0 10.0.0.1 694 1 0\n",
            "not a multicast address",
        ),
        ("node a\nmcast eth0 225.0.0.1 694 300 0\n", "ttl '300'"),
        ("node a\nucast eth0\n", "expected 'ucast INTERFACE PEER-IP'"),
        (
            "node a\nauto_failback maybe\n",
            "expected on, off or legacy",
        ),
        ("node a\nping gateway\n", "'gateway' is not an IP address"),
        ("node a\nnode a\n", "listed twice"),
        ("bcast eth0\n", "no 'node' directive"),
        ("node a\nudpport 0\n", "not a port"),
    ];
    for (text, wanted) in cases {
        let e = import(&Sources {
            ha_cf: text,
            ..Sources::default()
        })
        .expect_err(text)
        .to_string();
        assert!(e.contains(wanted), "{text:?}: wanted '{wanted}' in '{e}'");
        assert!(e.starts_with("ha.cf"), "{e}");
    }
}

#[test]
fn haresources_details_and_errors() {
    let nodes = vec!["n1".to_string(), "n2".to_string()];
    let groups = haresources::parse(
        "n1 10.0.0.5/24 Filesystem::/dev/vg/lv::/::xfs::noatime httpd\nn2 10.0.0.6 httpd\n",
        &nodes,
    )
    .expect("parses");
    let r = &groups[0].resources;
    assert_eq!(r[0].agent, "ocf:heartbeat:IPaddr2");
    assert_eq!(
        r[0].params.get("cidr_netmask").map(String::as_str),
        Some("24")
    );
    assert_eq!(r[1].name, "fs-root");
    assert_eq!(
        r[1].params.get("options").map(String::as_str),
        Some("noatime")
    );
    assert_eq!(groups[1].resources[1].name, "httpd-2", "names stay unique");
    assert_eq!(groups[1].line, 2);
    let cases = [
        ("n3 httpd\n", "node 'n3' is not a 'node' of ha.cf"),
        ("n1\n", "no resources"),
        ("n1 10.0.0.5/40\n", "not a prefix length"),
        ("n1 IPaddr::10.0.0.5/24/eth0/nope\n", "broadcast 'nope'"),
        (
            "n1 Filesystem::/dev/sda1\n",
            "wrong number of arguments for Filesystem",
        ),
        ("n1 Filesystem::/dev/sda1::data::ext4\n", "is not absolute"),
        ("n1 drbddisk::r0\n", "convert it by hand"),
        ("n1 IPaddr::\n", "empty argument"),
        (
            "# ok\nn1 a \\\n\nn2 ::x\n",
            "line 4: '::x': empty resource name",
        ),
    ];
    for (text, wanted) in cases {
        let e = haresources::parse(text, &nodes)
            .expect_err(text)
            .to_string();
        assert!(e.contains(wanted), "{text:?}: wanted '{wanted}' in '{e}'");
    }
}

#[test]
fn authkeys_methods_and_derived_key() {
    let out = full();
    let key = out.key.clone().expect("sha1 gives a key");
    assert_eq!(key.hex().len(), 64);
    assert!(has(&out.warnings, "sha1, a weak method"));
    assert!(has(&out.warnings, "key 2 (md5) is not the active one"));
    assert_eq!(format!("{key:?}"), "KeyMaterial([hidden])");
    // Deterministic, and bound to method and secret.
    let derive = |text: &str| {
        let mut w = Warnings::new();
        authkeys::parse(text, None, &mut w)
            .expect("authkeys")
            .derive(&mut w)
    };
    assert_eq!(
        derive("auth 1\n1 sha1 s3cret-s3cret-s3cret\n"),
        derive("auth 1\n1 sha1 s3cret-s3cret-s3cret\n")
    );
    assert_ne!(
        derive("auth 1\n1 sha1 abc\n"),
        derive("auth 1\n1 md5 abc\n")
    );
    assert_ne!(
        derive("auth 1\n1 sha1 abc\n"),
        derive("auth 1\n1 sha1 abd\n")
    );
    let mut w = Warnings::new();
    let crc = authkeys::parse("auth 3\n3 crc\n", Some(0o644), &mut w).expect("crc");
    assert_eq!(crc.derive(&mut w), None);
    assert!(has(&w, "crc, which authenticates nothing"));
    assert!(has(&w, "mode 644"));
    let cases = [
        ("1 sha1 x\n", "no 'auth ID' line"),
        (
            "auth 2\n1 sha1 x\n",
            "line 1: 'auth 2' names a key that is not listed",
        ),
        ("auth 1\n1 md5\n", "md5 needs a key"),
        ("auth 1\n1 sha256 x\n", "unknown method 'sha256'"),
        ("auth 16\n16 sha1 x\n", "must be 1-15"),
        ("auth 1\n1 sha1 x\n1 md5 y\n", "listed twice"),
        ("auth 1\nauth 1\n", "a second 'auth' line"),
    ];
    for (text, wanted) in cases {
        let e = import(&Sources {
            ha_cf: "node a\nbcast eth0\n",
            authkeys: Some(text),
            ..Sources::default()
        })
        .expect_err(text)
        .to_string();
        assert!(e.contains(wanted), "{text:?}: wanted '{wanted}' in '{e}'");
        assert!(e.starts_with("authkeys"), "{e}");
    }
}

#[test]
fn a_pair_without_ping_nodes_is_two_node_and_deadping_is_kept_when_usable() {
    let ha = HA_CF.replace("ping 10.0.0.254\n", "");
    let out = import(&Sources {
        ha_cf: &ha,
        ..Sources::default()
    })
    .expect("imports");
    assert!(out.config.quorum.two_node);
    assert_eq!(out.config.quorum.ping_targets, None);
    let with = |deadping: &str| {
        import(&Sources {
            ha_cf: &format!("{HA_CF}deadping {deadping}\n"),
            ..Sources::default()
        })
        .expect("imports")
    };
    assert_eq!(
        with("10").config.quorum.ping_deadtime.as_deref(),
        Some("10s")
    );
    let late = with("40");
    assert_eq!(late.config.quorum.ping_deadtime, None);
    assert!(has(&late.warnings, "deadping 40s not imported"));
}
