//! The command line's definition: representative command lines (the old spellings
//! scripts and tests use included) parse to what they mean, bad ones are usage errors,
//! and the generated completions and man pages name the commands.

use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use super::definition::*;
use crate::fencer::operation::FenceAction;

fn parse(line: &[&str]) -> Cli {
    let argv = std::iter::once("palisade").chain(line.iter().copied());
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => panic!("{line:?}: {e}"),
    }
}

fn refused(line: &[&str]) -> ErrorKind {
    let argv = std::iter::once("palisade").chain(line.iter().copied());
    match Cli::try_parse_from(argv) {
        Ok(cli) => panic!("{line:?} parsed: {cli:?}"),
        Err(e) => e.kind(),
    }
}

#[test]
fn the_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn fence_commands() {
    let cli = parse(&[
        "fence",
        "node1",
        "--action",
        "off",
        "--timeout=90s",
        "--delay",
        "2",
        "--json",
        "--socket",
        "/s",
    ]);
    assert!(cli.json);
    assert_eq!(cli.socket.as_deref(), Some(std::path::Path::new("/s")));
    assert_eq!(
        cli.command,
        Command::Fence(FenceArgs {
            target: "node1".into(),
            action: Some(FenceAction::Off),
            timeout: Some(Duration::from_secs(90)),
            delay: Some(Duration::from_secs(2)),
            requester: "palisade-cli".into(),
            dry_run: false,
        })
    );
    assert!(matches!(
        parse(&["fence", "n", "--dry-run"]).command,
        Command::Fence(FenceArgs { dry_run: true, .. })
    ));
    // Global options before the command too; old action spellings.
    let cli = parse(&["--json", "fence", "n", "--action", "PowerOff"]);
    assert!(cli.json);
    assert!(matches!(
        cli.command,
        Command::Fence(FenceArgs {
            action: Some(FenceAction::Off),
            ..
        })
    ));
    let Command::Unfence(u) = parse(&["unfence", "n", "--requester", "me"]).command else {
        panic!("unfence");
    };
    assert_eq!((u.target.as_str(), u.requester.as_str()), ("n", "me"));
    assert!(matches!(
        parse(&["query", "web1", "--timeout", "1s"]).command,
        Command::Query(QueryArgs { timeout: Some(t), .. }) if t == Duration::from_secs(1)
    ));
    for (word, command) in [
        ("devices", Command::Devices),
        ("levels", Command::Levels),
        ("metrics", Command::Metrics),
    ] {
        assert_eq!(parse(&[word, "--json"]).command, command);
    }
}

#[test]
fn register_params_and_history() {
    let cli = parse(&[
        "register",
        "pdu",
        "--agent=fence_apc_snmp",
        "--priority",
        "-5",
        "-o",
        "ip=10.0.0.1",
        "--param",
        "community= x=y ",
        "-o",
        " port =3",
    ]);
    assert_eq!(
        cli.command,
        Command::Register(RegisterArgs {
            name: "pdu".into(),
            agent: "fence_apc_snmp".into(),
            priority: -5,
            params: vec![
                ("ip".into(), "10.0.0.1".into()),
                ("community".into(), " x=y ".into()),
                ("port".into(), "3".into()),
            ],
        })
    );
    let Command::History(h) = parse(&[
        "history",
        "node1",
        "--since",
        "2h",
        "--until",
        "@1700000000",
        "--action",
        "reboot",
        "--limit",
        "10",
    ])
    .command
    else {
        panic!("history");
    };
    assert_eq!(h.target.as_deref(), Some("node1"));
    assert_eq!(h.since, Some(When::Ago(Duration::from_secs(7200))));
    assert_eq!(h.until.map(|w| w.moment_from(0).0), Some(1_700_000_000_000));
    assert_eq!(
        h.since.map(|w| w.moment_from(10_000_000).0),
        Some(10_000_000 - 7_200_000)
    );
    assert_eq!((h.action, h.limit), (Some(FenceAction::Reboot), Some(10)));
    assert_eq!(
        parse(&["events", "--count", "5"]).command,
        Command::Events(EventsArgs { count: Some(5) })
    );
}

#[test]
fn local_commands() {
    let Command::Daemon(d) = parse(&["daemon", "--show-default-config"]).command else {
        panic!("daemon");
    };
    assert!(d.show_default_config && d.config.is_none());
    let Command::Validate(v) = parse(&["validate", "--agent", "fence_x", "-o", "a=b"]).command
    else {
        panic!("validate");
    };
    assert_eq!((v.agent.as_deref(), v.params.len()), (Some("fence_x"), 1));
    assert!(matches!(
        parse(&["validate", "--config", "f.toml"]).command,
        Command::Validate(ValidateArgs {
            config: Some(_),
            agent: None,
            ..
        })
    ));
    assert!(matches!(
        parse(&["metadata", "--agent", "fence_x"]).command,
        Command::Metadata(MetadataArgs { agent }) if agent == "fence_x"
    ));
    assert_eq!(parse(&["version"]).command, Command::Version);
}

#[test]
fn import_takes_heartbeats_files_in_order_or_by_option() {
    let Command::Import(i) = parse(&["import", "ha.cf", "haresources", "authkeys"]).command else {
        panic!("import");
    };
    let names = |i: &ImportArgs| {
        [i.ha_cf(), i.haresources(), i.authkeys()].map(|p| p.map(|p| p.display().to_string()))
    };
    let expected = [
        Some("ha.cf".to_string()),
        Some("haresources".to_string()),
        Some("authkeys".to_string()),
    ];
    assert_eq!(names(&i), expected);
    let Command::Import(o) = parse(&[
        "import",
        "--ha-cf",
        "ha.cf",
        "--haresources=haresources",
        "--authkeys",
        "authkeys",
        "--key-out",
        "k",
        "--addresses",
        "a=1.2.3.4 b=1.2.3.5",
    ])
    .command
    else {
        panic!("import");
    };
    assert_eq!(names(&o), expected);
    assert_eq!(o.addresses.as_deref(), Some("a=1.2.3.4 b=1.2.3.5"));
    let Command::Import(one) = parse(&["import", "ha.cf"]).command else {
        panic!("import");
    };
    assert_eq!(names(&one)[1], None);
    assert_eq!(
        refused(&["import", "x.cf", "--ha-cf", "y.cf"]),
        ErrorKind::ArgumentConflict
    );
}

#[test]
fn node_daemon_and_admin() {
    for line in [
        &["node", "--config", "c.toml", "--node", "alpha", "--check"][..],
        &["node", "-c", "c.toml", "-n", "alpha", "--check"],
        &["node", "--config=c.toml", "--node=alpha", "--check"],
    ] {
        let Command::Node(n) = parse(line).command else {
            panic!("node");
        };
        assert_eq!(n.config.as_deref(), Some(std::path::Path::new("c.toml")));
        assert_eq!((n.node.as_deref(), n.check), (Some("alpha"), true));
        assert!(n.admin.is_none());
    }
    let admin = |line: &[&str]| match parse(line).command {
        Command::Node(NodeArgs {
            admin: Some(admin), ..
        }) => admin,
        other => panic!("{line:?}: {other:?}"),
    };
    assert_eq!(
        admin(&["node", "standby"]),
        NodeAdmin::Standby(NodeTarget { node: None })
    );
    assert_eq!(
        admin(&["node", "online", "solo", "--socket", "/n.sock"]),
        NodeAdmin::Online(NodeTarget {
            node: Some("solo".into())
        })
    );
    assert!(matches!(
        admin(&["node", "maintenance"]),
        NodeAdmin::Maintenance(_)
    ));
    assert!(matches!(
        admin(&["node", "ready", "n2"]),
        NodeAdmin::Ready(_)
    ));
    let cli = parse(&["node", "maintenance", "--json"]);
    assert!(cli.json);
    // The daemon's options do not mix with the admin subcommands.
    refused(&["node", "--config", "c", "standby"]);
    assert_eq!(
        refused(&["node", "online", "a", "b"]),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        refused(&["node", "--config", "x", "--bogus"]),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn cluster_admin_commands() {
    use super::cluster::request;
    use crate::node::admin::Command;
    use crate::node::control::Request;
    let req = |line: &[&str]| request(&parse(line).command).map(|(_, r)| r);
    assert_eq!(req(&["status", "--json"]), Some(Request::Status {}));
    assert_eq!(
        req(&["resource", "move", "db", "node2"]),
        Some(Request::Admin(Command::Move {
            resource: "db".into(),
            node: "node2".into()
        }))
    );
    assert_eq!(
        req(&["resource", "ban", "web"]),
        Some(Request::Admin(Command::Ban {
            resource: "web".into(),
            node: None
        }))
    );
    assert_eq!(
        req(&["resource", "cleanup", "web", "n1"]),
        Some(Request::Admin(Command::Cleanup {
            resource: "web".into(),
            node: Some("n1".into())
        }))
    );
    assert_eq!(
        req(&["resource", "stop", "app"]),
        Some(Request::Admin(Command::TargetRole {
            resource: "app".into(),
            stopped: true
        }))
    );
    assert_eq!(
        req(&["resource", "start", "app"]),
        Some(Request::Admin(Command::TargetRole {
            resource: "app".into(),
            stopped: false
        }))
    );
    assert_eq!(
        req(&["explain", "web"]),
        Some(Request::Explain {
            resource: "web".into()
        })
    );
    assert_eq!(
        req(&["maintenance", "on"]),
        Some(Request::Admin(Command::MaintenanceMode { on: true }))
    );
    assert_eq!(
        req(&["maintenance", "off"]),
        Some(Request::Admin(Command::MaintenanceMode { on: false }))
    );
    for bad in [
        &["resource", "move", "db"][..],
        &["resource", "frobnicate", "web"],
        &["resource", "stop", "db", "node1"],
        &["resource", "clear", "a", "b", "c"],
        &["resource", "cleanup"],
        &["maintenance", "maybe"],
        &["maintenance"],
        &["maintenance", "on", "x"],
        &["status", "extra"],
        &["explain"],
    ] {
        refused(bad);
    }
}

#[test]
fn usage_errors() {
    for line in [
        &[][..],
        &["explode"],
        &["fence"],
        &["fence", "a", "b"],
        &["fence", "n1", "--action", "cycle"],
        &["fence", "n1", "--timeout", "soon"],
        &["devices", "--frobnicate"],
        &["devices", "extra"],
        &["history", "--limit", "many"],
        &["history", "--since", "@yesterday"],
        &["history", "a", "b"],
        &["register", "x", "-o", "novalue", "--agent", "fence_x"],
        &["register", "x", "-o", "=v", "--agent", "fence_x"],
        &["register", "x"],
        &["validate"],
        &["validate", "--config", "f", "--agent", "a"],
        &["validate", "--config", "f", "-o", "a=b"],
        &["metadata"],
        &["daemon", "extra"],
        &["--json=1", "devices"],
    ] {
        let argv = std::iter::once("palisade").chain(line.iter().copied());
        let err = Cli::try_parse_from(argv).expect_err("usage error");
        assert!(err.use_stderr(), "{line:?}: {err}");
        assert_eq!(err.exit_code(), 2, "{line:?}: {err}");
    }
    // Help and version are not errors.
    for line in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["help", "fence"],
        &["status", "--help"],
        &["import", "--help"],
        &["node", "standby", "--help"],
        &["resource", "move", "--help"],
        &["--version"],
        &["-V"],
    ] {
        let argv = std::iter::once("palisade").chain(line.iter().copied());
        let err = Cli::try_parse_from(argv).expect_err("help");
        assert!(!err.use_stderr(), "{line:?}: {err}");
    }
}

#[test]
fn every_command_has_a_one_line_about() {
    fn walk(cmd: &clap::Command, path: &str) {
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(
                !about.is_empty() && !about.contains('\n'),
                "{name}: {about:?}"
            );
            walk(sub, &name);
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    walk(&cmd, "palisade");
}

#[test]
fn completions_and_man_pages_name_the_commands() {
    use super::generate::{completions, man_pages};
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let script = String::from_utf8(completions(shell)).expect("utf-8");
        for word in ["fence", "import", "standby", "maintenance", "socket"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let dir = std::env::temp_dir().join(format!("palisade-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    man_pages(&dir).expect("man pages");
    for page in [
        "palisade.1",
        "palisade-fence.1",
        "palisade-import.1",
        "palisade-node-standby.1",
        "palisade-resource-move.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page}: {text:?}");
    }
    let top = std::fs::read_to_string(dir.join("palisade.1")).unwrap_or_default();
    assert!(top.contains("fence") && top.contains("exit codes"), "{top}");
    let _ = std::fs::remove_dir_all(&dir);
}
