//! `fence_kdump`: "fencing" that waits for a crashed node's kdump kernel to say it is
//! writing its crash dump, so the dump is not cut short by power fencing. Used as the
//! first topology level before a power agent: success when the message comes, failure
//! (exit 1) after `--timeout`, and the fencer goes on to the next level.
//!
//! ClusterLabs' fence_kdump is a C program, not a `fencing.py` agent, and this one keeps
//! its interface: options `-n/--nodename NODE[,NODE...]`, `-p/--ipport` (7410), `-f/--family`
//! (auto, ipv4, ipv6), `-o/--action` (off, monitor, metadata, validate-all; default off),
//! `-t/--timeout` (60), `-v`, `-V`, `-h`; stdin `name=value` with the same names; its
//! metadata layout; its stdout lines (`[debug]: waiting for message from 'ADDR'`,
//! `[debug]: received valid message from 'ADDR'`, `[debug]: timeout after N seconds`);
//! exit 0/1. Options are read by the framework's parser ([`crate::args`]) from the table
//! below; errors and `-v` diagnostics go through the framework's log on stderr.
//!
//! `monitor` does what ClusterLabs' does: succeed when this machine's kernel command line
//! (`/proc/cmdline`) reserves a crash kernel (`crashkernel=`), fail otherwise — the
//! fencer's own kdump setup stands in for the cluster's (a symmetric configuration is
//! assumed); the reason is logged on failure, which ClusterLabs does silently.
//!
//! Differences, each a superset of what ClusterLabs accepts: every address a node name
//! resolves to counts (ClusterLabs takes the first), so a name with one address per ring
//! works; IPv4 and IPv6 node addresses may be mixed (ClusterLabs refuses with "mixing IPv4
//! and IPv6 nodes is not supported"; here both wildcards are bound); `--timeout` takes
//! fractions of a second (ClusterLabs truncates to whole seconds, minimum 1).

mod listen;

use std::io::Write;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::Instant;

use crate::args::{parse_argv, parse_stdin, utf8_args, RawOptions};
use crate::log::{AgentLog, Level, LogSink};
use crate::metadata::escape_text;
use crate::options::OptionSpec;
use crate::params::parse_seconds;
use crate::run::AgentExit;

pub use listen::{encode, judge, Verdict, MAGIC, VERSION};

const NAME: &str = "fence_kdump";

/// The options, in ClusterLabs' order; `help` is each parameter's metadata shortdesc.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec::text(
        "nodename",
        "NODE[,NODE...]",
        "List of names or IP addresses of node to be fenced. This option is\nrequired for the \"off\" action. Multiple values separated by commas\ncan be specified. All values must be of same IP network family.",
    )
    .short('n'),
    OptionSpec::text(
        "ipport",
        "PORT",
        "IP port number that the fence_kdump agent will use to listen for\nmessages.",
    )
    .short('p')
    .default("7410"),
    OptionSpec::text(
        "family",
        "FAMILY",
        "IP network family. Force the fence_kdump agent to use a specific\nfamily. The value for FAMILY can be \"auto\", \"ipv4\", or\n\"ipv6\".",
    )
    .short('f')
    .default("auto"),
    OptionSpec::text(
        "action",
        "ACTION",
        "Fencing action to perform. The value for ACTION can be either\n\"off\" or \"metadata\".",
    )
    .short('o')
    .default("off"),
    OptionSpec::text(
        "timeout",
        "TIMEOUT",
        "Number of seconds to wait for message from failed node. If no message\nis received within TIMEOUT seconds, the fence_kdump agent\nreturns failure.",
    )
    .short('t')
    .default("60"),
    OptionSpec::flag("verbose", "Print verbose output").short('v'),
    OptionSpec::flag("version", "Print version").short('V'),
    OptionSpec::flag("usage", "Print usage")
        .short('h')
        .long("help"),
];

/// What the run is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Off,
    Monitor,
    Metadata,
    ValidateAll,
}

/// Address family filter (`--family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Auto,
    V4,
    V6,
}

/// Validated options.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub action: Action,
    pub nodes: Vec<String>,
    pub port: u16,
    pub family: Family,
    pub timeout: std::time::Duration,
    pub verbose: u32,
}

/// A usage or run failure: its message (exit 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

fn value<'a>(raw: &'a RawOptions, name: &str) -> &'a str {
    raw.get(name)
        .or_else(|| {
            OPTIONS
                .iter()
                .find(|o| o.name == name)
                .and_then(|o| o.default)
        })
        .unwrap_or("")
}

/// Options as ClusterLabs checks them (same words), from parsed argv or stdin.
pub fn config(raw: &RawOptions) -> Result<Config, Error> {
    let action = match value(raw, "action").trim().to_ascii_lowercase().as_str() {
        "off" => Action::Off,
        "monitor" => Action::Monitor,
        "metadata" | "meta-data" => Action::Metadata,
        "validate-all" => Action::ValidateAll,
        other => return Err(Error(format!("unsupported action '{other}'"))),
    };
    let port_text = value(raw, "ipport").trim();
    let port = port_text
        .parse::<u16>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| Error(format!("invalid ipport '{port_text}'")))?;
    let family = match value(raw, "family").trim().to_ascii_lowercase().as_str() {
        "auto" => Family::Auto,
        "ipv4" => Family::V4,
        "ipv6" => Family::V6,
        other => return Err(Error(format!("unsupported family '{other}'"))),
    };
    let timeout_text = value(raw, "timeout").trim();
    let timeout = parse_seconds(timeout_text)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| Error(format!("invalid timeout '{timeout_text}'")))?;
    let nodes = value(raw, "nodename")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Config {
        action,
        nodes,
        port,
        family,
        timeout,
        verbose: raw.verbose,
    })
}

/// Every address of every node name, filtered by family; a name that does not resolve
/// (or has no address of the family) is an error, as in ClusterLabs.
pub fn node_addresses(nodes: &[String], family: Family) -> Result<Vec<IpAddr>, Error> {
    let mut all: Vec<IpAddr> = Vec::new();
    for name in nodes {
        let host = name.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (host, 0)
                .to_socket_addrs()
                .map_err(|e| Error(format!("failed to get node '{name}': {e}")))?
                .map(|a| a.ip())
                .collect(),
        };
        let fitting: Vec<IpAddr> = found
            .into_iter()
            .filter(|ip| match family {
                Family::Auto => true,
                Family::V4 => ip.is_ipv4(),
                Family::V6 => ip.is_ipv6(),
            })
            .collect();
        if fitting.is_empty() {
            return Err(Error(format!(
                "failed to get node '{name}': no address of the family asked for"
            )));
        }
        for ip in fitting {
            if !all.contains(&ip) {
                all.push(ip);
            }
        }
    }
    Ok(all)
}

/// The metadata XML, in ClusterLabs' fence_kdump layout.
pub fn metadata() -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" ?>\n<resource-agent name=\"{NAME}\" shortdesc=\"fencing agent for use with kdump crash recovery service\">\n"
    );
    xml.push_str("<longdesc>");
    xml.push_str(&escape_text(LONGDESC));
    xml.push_str("</longdesc>\n<vendor-url>http://www.kernel.org/pub/linux/utils/kernel/kexec/</vendor-url>\n<parameters>\n");
    for o in OPTIONS {
        xml.push_str(&format!(
            "\t<parameter name=\"{}\" unique=\"0\" required=\"0\">\n\t\t<getopt mixed=\"{}\" />\n",
            o.name,
            o.mixed()
        ));
        match o.default {
            Some(d) => xml.push_str(&format!(
                "\t\t<content type=\"string\" default=\"{d}\" />\n"
            )),
            None if o.kind.takes_value() => xml.push_str("\t\t<content type=\"string\" />\n"),
            None => xml.push_str("\t\t<content type=\"boolean\" />\n"),
        }
        xml.push_str(&format!(
            "\t\t<shortdesc lang=\"en\">{}</shortdesc>\n\t</parameter>\n",
            escape_text(o.help)
        ));
    }
    xml.push_str("</parameters>\n<actions>\n");
    for a in ["off", "monitor", "metadata", "validate-all"] {
        xml.push_str(&format!("\t<action name=\"{a}\" />\n"));
    }
    xml.push_str("</actions>\n</resource-agent>\n");
    xml
}

const LONGDESC: &str = "fence_kdump is an I/O fencing agent to be used with the kdump
crash recovery service. When the fence_kdump agent is invoked,
it will listen for a message from the failed node that acknowledges
that the failed node is executing the kdump crash kernel.
Note that fence_kdump is not a replacement for traditional
fencing methods. The fence_kdump agent can only detect that a
node has entered the kdump crash recovery service. This allows the
kdump crash recovery service complete without being preempted by
traditional power fencing methods.

Note: the \"off\" action listen for message from failed node that
acknowledges node has entered kdump crash recovery service. If a valid
message is received from the failed node, the node is considered to be
fenced and the agent returns success. Failure to receive a valid
message from the failed node in the given timeout period results in
fencing failure. When multiple node names/IP addresses are specified
a single valid message is sufficient for success. This is useful when
single node can send message via several different IP addresses.
";

/// The `--help` text (ClusterLabs' wording).
pub fn usage() -> String {
    let mut text = format!("Usage: {NAME} [options]\n\nOptions:\n\n");
    let lines = [
        (
            "-n, --nodename=NODE[,NODE...]",
            "List of names or IP addresses of node to be fenced",
        ),
        ("-p, --ipport=PORT", "IP port number (default: 7410)"),
        (
            "-f, --family=FAMILY",
            "Network family: ([auto], ipv4, ipv6)",
        ),
        (
            "-o, --action=ACTION",
            "Fencing action: ([off], monitor, metadata, validate-all)",
        ),
        ("-t, --timeout=TIMEOUT", "Timeout in seconds (default: 60)"),
        ("-v, --verbose", "Print verbose output"),
        ("-V, --version", "Print version"),
        ("-h, --help", "Print usage"),
    ];
    for (opt, help) in lines {
        text.push_str(&format!("  {opt:<28} {help}\n"));
    }
    text.push('\n');
    text
}

/// `monitor`: is a crash kernel reserved on this machine (`crashkernel=` on the kernel
/// command line)?
pub fn monitor(cmdline: &str) -> Result<(), Error> {
    if cmdline.contains("crashkernel=") {
        Ok(())
    } else {
        Err(Error(
            "no crashkernel= on /proc/cmdline: kdump is not configured on this node".into(),
        ))
    }
}

/// Write to stdout; a closed stdout is not worth dying for (never `print!`, which panics).
fn out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn say(line: &str) {
    out(&format!("[debug]: {line}\n"));
}

/// `off`: wait for the message.
fn off(cfg: &Config, log: &mut dyn LogSink) -> Result<(), Error> {
    if cfg.nodes.is_empty() {
        return Err(Error("action 'off' requires nodename".into()));
    }
    let addrs = node_addresses(&cfg.nodes, cfg.family)?;
    let mut sockets = Vec::new();
    for v6 in [false, true] {
        if addrs.iter().any(|a| a.is_ipv6() == v6) {
            let s = listen::bind(v6, cfg.port).map_err(|e| {
                let any = if v6 { "[::]" } else { "0.0.0.0" };
                Error(format!("bind ({any}:{}: {e})", cfg.port))
            })?;
            sockets.push(s);
        }
    }
    for a in &addrs {
        say(&format!("waiting for message from '{a}'"));
    }
    let deadline = Instant::now() + cfg.timeout;
    let got = listen::wait(&sockets, &addrs, deadline, &mut |from, verdict| {
        let why = match verdict {
            Verdict::Stranger => format!("discard message from '{from}'"),
            Verdict::Short(n) => format!("discard message from '{from}': {n} bytes, not 8"),
            Verdict::BadMagic(m) => format!("invalid magic number '0x{m:X}' from '{from}'"),
            Verdict::BadVersion(v) => format!("invalid message version '0x{v:X}' from '{from}'"),
            Verdict::Valid => return,
        };
        log.log(Level::Info, &why);
    })
    .map_err(|e| Error(format!("waiting for the message: {e}")))?;
    match got {
        Some(from) => {
            say(&format!("received valid message from '{from}'"));
            Ok(())
        }
        None => {
            let secs = cfg.timeout.as_secs_f64();
            say(&format!("timeout after {secs} seconds"));
            Err(Error(format!(
                "no message from the node's kdump kernel within {secs} s"
            )))
        }
    }
}

/// One run; `args` excludes the program name (empty = options on stdin).
pub fn run(args: &[String], stdin: &str, log: &mut AgentLog) -> Result<AgentExit, Error> {
    let raw = if args.is_empty() {
        parse_stdin(OPTIONS, stdin)
    } else {
        parse_argv(OPTIONS, args).map_err(|e| Error(e.to_string()))?
    };
    if raw.get("usage") == Some("1") {
        out(&usage());
        return Ok(AgentExit::Success);
    }
    if raw.get("version") == Some("1") {
        out(&format!("{NAME} {}\n", env!("CARGO_PKG_VERSION")));
        return Ok(AgentExit::Success);
    }
    let cfg = config(&raw)?;
    *log = AgentLog::with_verbosity(false, cfg.verbose);
    for w in &raw.warnings {
        log.log(Level::Debug, w);
    }
    match cfg.action {
        Action::Metadata => {
            out(&metadata());
            Ok(AgentExit::Success)
        }
        Action::ValidateAll => Ok(AgentExit::Success),
        Action::Monitor => {
            let cmdline = std::fs::read_to_string("/proc/cmdline")
                .map_err(|e| Error(format!("Unable to open file /proc/cmdline ({e})")))?;
            monitor(&cmdline)?;
            Ok(AgentExit::Success)
        }
        Action::Off => {
            off(&cfg, log)?;
            Ok(AgentExit::Success)
        }
    }
}

/// Entry point of the `fence_kdump` binary.
pub fn main() -> std::process::ExitCode {
    let os_args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut log = AgentLog::early();
    let outcome = utf8_args(OPTIONS, &os_args)
        .map_err(|e| Error(e.to_string()))
        .and_then(|args| {
            let mut stdin = String::new();
            if args.is_empty() {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                    .map_err(|e| Error(format!("cannot read options from stdin: {e}")))?;
                stdin = String::from_utf8_lossy(&bytes).into_owned();
            }
            run(&args, &stdin, &mut log)
        });
    let code = match outcome {
        Ok(code) => code,
        Err(e) => {
            log.log(Level::Error, &e.to_string());
            AgentExit::Failure
        }
    };
    std::process::ExitCode::from(code as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(stdin: &str) -> Result<Config, Error> {
        config(&parse_stdin(OPTIONS, stdin))
    }

    #[test]
    fn defaults_and_clusterlabs_errors() {
        let c = cfg("nodename=a, b\n").unwrap();
        assert_eq!(c.action, Action::Off);
        assert_eq!(c.nodes, ["a", "b"]);
        assert_eq!(c.port, 7410);
        assert_eq!(c.family, Family::Auto);
        assert_eq!(c.timeout, std::time::Duration::from_secs(60));
        for (input, error) in [
            ("action=reboot", "unsupported action 'reboot'"),
            ("ipport=0", "invalid ipport '0'"),
            ("ipport=70000", "invalid ipport '70000'"),
            ("family=ipx", "unsupported family 'ipx'"),
            ("timeout=0", "invalid timeout '0'"),
            ("timeout=soon", "invalid timeout 'soon'"),
        ] {
            assert_eq!(cfg(input), Err(Error(error.into())), "{input}");
        }
    }

    #[test]
    fn node_names_resolve_to_all_their_addresses_by_family() {
        let nodes = vec!["127.0.0.1".to_string(), "::1".to_string()];
        assert_eq!(
            node_addresses(&nodes, Family::Auto).unwrap(),
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(node_addresses(&nodes, Family::V4).is_err());
        assert!(node_addresses(&["[::1]".to_string()], Family::V6).is_ok());
    }

    #[test]
    fn monitor_is_the_crashkernel_reservation() {
        assert!(monitor("BOOT_IMAGE=/vmlinuz ro crashkernel=256M quiet").is_ok());
        assert!(monitor("BOOT_IMAGE=/vmlinuz ro quiet").is_err());
    }
}
