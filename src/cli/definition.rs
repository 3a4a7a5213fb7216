//! The definition of the `palisade` command line (clap derive): every command and
//! subcommand, its options, positional arguments and help, and the parsers of the values
//! (time spans, moments, fence actions, `key=value` parameters), so that a bad value is a
//! usage error before anything runs. It is the binary's only parser (the `crm_attribute`
//! shim aside, which answers as Pacemaker's tool); `palisade generate` derives the shell
//! completions and man pages from it.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand};

use crate::exit::Exit;
use crate::fencer::duration::{millis, parse_duration, Moment};
use crate::fencer::operation::FenceAction;

/// The `palisade` command line.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "palisade",
    version,
    about = "STONITH/fencing for Linux HA clusters: the fencer daemon, its CLI and the cluster node daemon",
    after_help = Exit::help_text(),
    arg_required_else_help = true
)]
pub struct Cli {
    /// The daemon's socket (see --help)
    ///
    /// The fencer's API socket (default $PALISADE_SOCKET, else /run/palisade/fencer.sock);
    /// for status, resource, explain, maintenance and the node admin subcommands, the
    /// node daemon's control socket (default $PALISADE_NODE_SOCKET, else
    /// /run/palisade/node.sock)
    #[arg(long, global = true, value_name = "PATH", display_order = 900)]
    pub socket: Option<PathBuf>,
    /// Print the daemon's answer as JSON
    #[arg(long, global = true, display_order = 901)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the fencer daemon (embedded demo configuration without --config)
    Daemon(DaemonArgs),
    /// Fence a node through its devices and topology levels
    Fence(FenceArgs),
    /// Power a node on (fence action "on")
    Unfence(UnfenceArgs),
    /// Which devices (and levels) can fence a node
    Query(QueryArgs),
    /// The registered devices
    Devices,
    /// The fencing topology
    Levels,
    /// Register a device with the running daemon
    Register(RegisterArgs),
    /// Remove a device from the running daemon
    Unregister(UnregisterArgs),
    /// Past fencing operations, with every attempt
    History(HistoryArgs),
    /// Follow the daemon's event stream
    Events(EventsArgs),
    /// The daemon's Prometheus metrics text
    Metrics,
    /// Check a configuration file, or run an agent's validate-all
    Validate(ValidateArgs),
    /// Check the timeouts of the whole fencing stack against each other
    #[command(
        long_about = "Build one timing model from palisade's fencer and node configurations and \
                      an existing pacemaker cluster's corosync.conf, sbd settings, CIB and sbd \
                      header; print the values, the safe values derived from them with their \
                      formula, and every rule they break. Exits 9 when a pair is unsafe."
    )]
    Check(CheckArgs),
    /// An agent's metadata XML
    Metadata(MetadataArgs),
    /// Convert heartbeat's ha.cf, haresources and authkeys to a node configuration
    #[command(
        long_about = "Convert a heartbeat v1 configuration (ha.cf, haresources, authkeys) to a \
                      palisade node configuration, printed as TOML on stdout; warnings go to \
                      stderr. Files not named are read from /etc/ha.d when they exist there."
    )]
    Import(ImportArgs),
    /// Run the cluster node daemon, or change a node's state
    Node(NodeArgs),
    /// The cluster as the local node daemon sees it
    Status,
    /// Move, ban, clear, clean up, stop or start a resource
    Resource {
        /// What to do.
        #[command(subcommand)]
        action: ResourceAction,
    },
    /// Why a resource is where it is (the scheduler's scores)
    Explain(ExplainArgs),
    /// Cluster-wide maintenance mode: resources left alone
    Maintenance {
        /// On or off.
        #[command(subcommand)]
        mode: MaintenanceMode,
    },
    /// Serve a read-only status page (nodes, resources, fencing history, devices)
    #[command(
        long_about = "Serve a read-only status page for people: nodes, quorum, resources and \
                      where they run, the fencing history with every attempt, the fence \
                      devices; it reloads itself. It asks the node daemon and the fencer over \
                      their sockets. Loopback by default; any other address needs --token-file \
                      (requests then carry the token as `Authorization: Bearer` or ?token=). \
                      Also serves the same snapshot as JSON at /status.json."
    )]
    Web(WebArgs),
    /// Shell completions and man pages, for packaging
    #[command(hide = true)]
    Generate {
        /// What to generate.
        #[command(subcommand)]
        what: Generate,
    },
    /// Print the version
    #[command(hide = true)]
    Version,
}

/// `palisade daemon`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DaemonArgs {
    /// The fencer configuration (TOML; see docs/fencer.md)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the embedded default configuration and exit
    #[arg(long)]
    pub show_default_config: bool,
}

/// `palisade web`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct WebArgs {
    /// The address to listen on
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7410")]
    pub listen: std::net::SocketAddr,
    /// A file whose first line is the token requests must carry (required off loopback)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The node daemon's control socket (default $PALISADE_NODE_SOCKET, else /run/palisade/node.sock)
    #[arg(long, value_name = "PATH")]
    pub node_socket: Option<PathBuf>,
    /// The fencer's API socket (default $PALISADE_SOCKET, else /run/palisade/fencer.sock)
    #[arg(long, value_name = "PATH")]
    pub fencer_socket: Option<PathBuf>,
    /// Seconds between the page's own reloads (0: never)
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub refresh: u32,
}

/// `palisade fence`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct FenceArgs {
    /// The node to fence
    pub target: String,
    /// The fence action (default: the daemon's fencing-action)
    #[arg(long, value_name = "ACTION", value_parser = ActionParser)]
    pub action: Option<FenceAction>,
    /// How long the operation may take, e.g. 60s, 2min (default: the daemon's fencing-timeout)
    #[arg(long, value_name = "SPAN", value_parser = span)]
    pub timeout: Option<Duration>,
    /// Wait this long before fencing
    #[arg(long, value_name = "SPAN", value_parser = span)]
    pub delay: Option<Duration>,
    /// Who asks (recorded in the history)
    #[arg(long, value_name = "NAME", default_value = "palisade-cli")]
    pub requester: String,
    /// Do not fence: resolve levels and delays, ask each candidate device only monitor
    /// and status, and print which level would act and the worst-case time
    #[arg(long)]
    pub dry_run: bool,
}

/// `palisade unfence`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct UnfenceArgs {
    /// The node to power on
    pub target: String,
    /// How long the operation may take (default: the daemon's fencing-timeout)
    #[arg(long, value_name = "SPAN", value_parser = span)]
    pub timeout: Option<Duration>,
    /// Who asks (recorded in the history)
    #[arg(long, value_name = "NAME", default_value = "palisade-cli")]
    pub requester: String,
}

/// `palisade query`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct QueryArgs {
    /// The node
    pub target: String,
    /// How long the devices may take to answer
    #[arg(long, value_name = "SPAN", value_parser = span)]
    pub timeout: Option<Duration>,
}

/// `palisade register`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RegisterArgs {
    /// The device's name
    pub name: String,
    /// Its fence agent: a fence_* name or an absolute path
    #[arg(long, value_name = "AGENT")]
    pub agent: String,
    /// Priority without topology (higher first)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub priority: i32,
    /// An agent parameter (repeatable)
    #[arg(short = 'o', long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
    pub params: Vec<(String, String)>,
}

/// `palisade unregister`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct UnregisterArgs {
    /// The device's name
    pub name: String,
}

/// `palisade history`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct HistoryArgs {
    /// Only this node
    pub target: Option<String>,
    /// Only operations started since then: a span back from now (2h) or @UNIX seconds
    #[arg(long, value_name = "WHEN", value_parser = when)]
    pub since: Option<When>,
    /// Only operations started before then: a span back from now or @UNIX seconds
    #[arg(long, value_name = "WHEN", value_parser = when)]
    pub until: Option<When>,
    /// Only this action
    #[arg(long, value_name = "ACTION", value_parser = ActionParser)]
    pub action: Option<FenceAction>,
    /// Only the newest N
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// `palisade events`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct EventsArgs {
    /// Stop after N events (default: follow until the daemon closes)
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
}

/// `palisade validate`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["config", "agent"])))]
pub struct ValidateArgs {
    /// Check this fencer configuration file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run this agent's validate-all
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
    /// An agent parameter (repeatable; with --agent)
    #[arg(short = 'o', long = "param", value_name = "KEY=VALUE", value_parser = key_value, conflicts_with = "config")]
    pub params: Vec<(String, String)>,
}

/// `palisade check`: at least one input.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(group(ArgGroup::new("inputs").required(true).multiple(true)
    .args(["config", "node_config", "corosync", "sbd_config", "cib", "sbd_device"])))]
pub struct CheckArgs {
    /// palisade's fencer configuration (TOML)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// palisade's node configuration (TOML)
    #[arg(long, value_name = "FILE")]
    pub node_config: Option<PathBuf>,
    /// The local node of --node-config (default its [cluster] node)
    #[arg(long, value_name = "NAME", requires = "node_config")]
    pub node: Option<String>,
    /// corosync.conf
    #[arg(long, value_name = "FILE")]
    pub corosync: Option<PathBuf>,
    /// sbd's settings (/etc/sysconfig/sbd or /etc/default/sbd)
    #[arg(long, value_name = "FILE")]
    pub sbd_config: Option<PathBuf>,
    /// The CIB as XML (what `cibadmin -Q` prints)
    #[arg(long, value_name = "FILE")]
    pub cib: Option<PathBuf>,
    /// An sbd device or image whose header to read (repeatable)
    #[arg(long, value_name = "DEV")]
    pub sbd_device: Vec<PathBuf>,
}

/// `palisade metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct MetadataArgs {
    /// The fence agent: a fence_* name or an absolute path
    #[arg(long, value_name = "AGENT")]
    pub agent: String,
}

/// `palisade import`: the files positionally, in heartbeat's order, or by option.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ImportArgs {
    /// heartbeat's ha.cf (default /etc/ha.d/ha.cf)
    #[arg(value_name = "HA_CF", conflicts_with = "ha_cf_option")]
    pub ha_cf: Option<PathBuf>,
    /// heartbeat's haresources (default /etc/ha.d/haresources, when it exists)
    #[arg(value_name = "HARESOURCES", conflicts_with = "haresources_option")]
    pub haresources: Option<PathBuf>,
    /// heartbeat's authkeys (default /etc/ha.d/authkeys, when it exists)
    #[arg(value_name = "AUTHKEYS", conflicts_with = "authkeys_option")]
    pub authkeys: Option<PathBuf>,
    /// heartbeat's ha.cf, by option
    #[arg(long = "ha-cf", id = "ha_cf_option", value_name = "FILE")]
    pub ha_cf_option: Option<PathBuf>,
    /// heartbeat's haresources, by option
    #[arg(long = "haresources", id = "haresources_option", value_name = "FILE")]
    pub haresources_option: Option<PathBuf>,
    /// heartbeat's authkeys, by option
    #[arg(long = "authkeys", id = "authkeys_option", value_name = "FILE")]
    pub authkeys_option: Option<PathBuf>,
    /// Write the derived cluster key here (created 0600, never overwritten)
    #[arg(long, value_name = "FILE")]
    pub key_out: Option<PathBuf>,
    /// Each node's ring addresses, e.g. 'alpha=10.0.0.1,10.1.0.1 beta=10.0.0.2,10.1.0.2'
    #[arg(long, value_name = "NODE=IP[,IP] ...")]
    pub addresses: Option<String>,
}

impl ImportArgs {
    /// ha.cf, given either way.
    pub fn ha_cf(&self) -> Option<&PathBuf> {
        self.ha_cf.as_ref().or(self.ha_cf_option.as_ref())
    }

    /// haresources, given either way.
    pub fn haresources(&self) -> Option<&PathBuf> {
        self.haresources
            .as_ref()
            .or(self.haresources_option.as_ref())
    }

    /// authkeys, given either way.
    pub fn authkeys(&self) -> Option<&PathBuf> {
        self.authkeys.as_ref().or(self.authkeys_option.as_ref())
    }
}

/// `palisade node`: the daemon (`--config`), or an admin subcommand.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    /// The cluster configuration (TOML; see docs/cluster.md); required to run the daemon
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// This node's name (overrides [cluster] node)
    #[arg(short, long, value_name = "NAME")]
    pub node: Option<String>,
    /// Validate the configuration and exit
    #[arg(long)]
    pub check: bool,
    /// An admin subcommand (talks to the running node daemon).
    #[command(subcommand)]
    pub admin: Option<NodeAdmin>,
}

/// `palisade node standby|online|maintenance|ready [NODE]`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum NodeAdmin {
    /// Put a node in standby: its resources move away
    Standby(NodeTarget),
    /// Take a node out of standby
    Online(NodeTarget),
    /// Leave a node's resources alone: not started, stopped or monitored
    Maintenance(NodeTarget),
    /// Manage a node's resources again (probed first)
    Ready(NodeTarget),
}

/// The node of a node admin subcommand.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct NodeTarget {
    /// The node (default: this node)
    #[arg(value_name = "NODE")]
    pub node: Option<String>,
}

/// `palisade resource ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ResourceAction {
    /// Run a resource on a node (cli-prefer constraint, score INFINITY)
    Move {
        /// The resource
        #[arg(value_name = "RES")]
        resource: String,
        /// Where to run it
        #[arg(value_name = "NODE")]
        node: String,
    },
    /// Keep a resource off a node (default: where it runs)
    Ban(ResourceOnNode),
    /// Drop a resource's move and ban constraints (only those of NODE, if given)
    Clear(ResourceOnNode),
    /// Forget a resource's failures (on NODE, if given)
    Cleanup(ResourceOnNode),
    /// Stop a resource (target-role Stopped)
    Stop(ResourceName),
    /// Start a resource again (target-role Started)
    Start(ResourceName),
}

/// A resource and maybe a node.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ResourceOnNode {
    /// The resource
    #[arg(value_name = "RES")]
    pub resource: String,
    /// The node
    #[arg(value_name = "NODE")]
    pub node: Option<String>,
}

/// A resource.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ResourceName {
    /// The resource
    #[arg(value_name = "RES")]
    pub resource: String,
}

/// `palisade explain`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ExplainArgs {
    /// The resource
    #[arg(value_name = "RES")]
    pub resource: String,
}

/// `palisade maintenance on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum MaintenanceMode {
    /// Leave every resource alone
    On,
    /// Manage resources again
    Off,
}

/// `palisade generate ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Generate {
    /// Print the completion script for a shell
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Write the man pages (palisade.1, palisade-fence.1, ...) into a directory
    Man {
        /// The directory (must exist)
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// A moment of `--since` / `--until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// That long ago.
    Ago(Duration),
    /// At this Unix time (seconds).
    At(u64),
}

impl When {
    /// The moment, `now` being Unix milliseconds.
    pub fn moment_from(self, now: u64) -> Moment {
        match self {
            When::Ago(span) => Moment(now.saturating_sub(millis(span))),
            When::At(secs) => Moment(secs.saturating_mul(1000)),
        }
    }

    /// The moment, from the clock.
    pub fn moment(self) -> Moment {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(millis)
            .unwrap_or(0);
        self.moment_from(now)
    }
}

/// `60s`, `500ms`, `2min`, `1h`; a bare number is seconds.
fn span(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

/// `2h` (back from now) or `@1700000000` (Unix seconds).
fn when(text: &str) -> Result<When, String> {
    match text.strip_prefix('@') {
        Some(unix) => unix
            .parse()
            .map(When::At)
            .map_err(|_| format!("'@{unix}' is not Unix seconds")),
        None => span(text).map(When::Ago),
    }
}

/// `key=value` (the key trimmed; the value may hold `=`).
fn key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' must be key=value"))?;
    if key.trim().is_empty() {
        return Err(format!("'{text}' has no key"));
    }
    Ok((key.trim().to_string(), value.to_string()))
}

/// A fence action: `off`, `reboot`, `on` (and `poweroff`, any case), offering the three
/// words to completions.
#[derive(Debug, Clone, Copy)]
struct ActionParser;

impl TypedValueParser for ActionParser {
    type Value = FenceAction;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<FenceAction, clap::Error> {
        let parsed = value.to_str().and_then(FenceAction::parse);
        parsed.ok_or_else(|| {
            let mut err = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
            if let Some(arg) = arg {
                err.insert(
                    ContextKind::InvalidArg,
                    ContextValue::String(arg.to_string()),
                );
            }
            err.insert(
                ContextKind::InvalidValue,
                ContextValue::String(value.to_string_lossy().into_owned()),
            );
            err.insert(
                ContextKind::ValidValue,
                ContextValue::Strings(vec!["off".into(), "reboot".into(), "on".into()]),
            );
            err
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            ["off", "reboot", "on"].into_iter().map(PossibleValue::new),
        ))
    }
}

/// A usage error found after the parse (by the command at `path`, e.g. `["node"]`), in
/// clap's format and with its exit code.
pub fn usage_error(path: &[&str], kind: ErrorKind, message: impl std::fmt::Display) -> clap::Error {
    let mut command = Cli::command();
    command.build();
    let mut at = command;
    for name in path {
        match at.find_subcommand(name) {
            Some(sub) => at = sub.clone(),
            None => break,
        }
    }
    at.error(kind, message)
}
