//! `fence_xvm`: virtual machines fenced through fence_virtd (package fence-virtd) over its
//! multicast listener, with the names of ClusterLabs' fence_xvm options (`-a` multicast
//! address, `-p` port, `-r` retransmit tenths, `-C` auth, `-c` hash, `-k` key file, `-u`
//! UUIDs, `-t` timeout, `-w` delay, `-n` domain). The parts:
//!
//! - `wire`: the request packet, its signature, challenge responses, host list records.
//! - `device`: [`XvmDevice`], the exchange with the daemon as a [`PowerDevice`].
//!
//! Differences from ClusterLabs' C agent: the framework's sequences and output (off and
//! on print `Success: ...` lines and verify the state afterwards; reboot is off then on,
//! `--method cycle` is fence_virtd's own reboot); `list` prints `domain,uuid`; a domain
//! the daemon does not know is an error ("does not exist") where ClusterLabs reports
//! "Status: OFF"; IPv4 only (`--ip-family ipv6` is refused); `-H` is not an alias of
//! `-n`, and stdin `debug` names the debug file as for every other agent.
//!
//! Safety: the request leaves by every IPv4 interface of the host, as ClusterLabs'
//! does; tests run it only inside a network namespace of their own.
//!
//! `fence_virt` ([`VIRT_AGENT`]) is the same exchange over fence_virtd's TCP listener
//! (`-T/--ipaddr` address, `-p` port): the client connects and sends the request, then
//! the same challenge-response and answer. Its serial and vsock modes are not supported
//! yet: without `--ipaddr` (ClusterLabs: serial mode), or with `--vsock`, it refuses.

mod device;
mod wire;

use std::net::Ipv4Addr;
use std::time::Duration;

pub use device::{Transport, XvmConfig, XvmDevice};
pub use wire::Hash;

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::log::AgentLog;
use crate::options::{self, Kind, OptionSpec};
use crate::params::{Params, UsageError};

const IP_FAMILY: OptionSpec =
    OptionSpec::text("ip_family", "[family]", "IP Family ([auto], ipv4, ipv6)")
        .short('i')
        .default("auto");
const MULTICAST_ADDRESS: OptionSpec = OptionSpec::text(
    "multicast_address",
    "[address]",
    "Multicast address (default=225.0.0.12)",
)
.short('a');
const IPPORT: OptionSpec = OptionSpec::text(
    "ipport",
    "[port]",
    "TCP, Multicast, VMChannel, or VM socket port (default=1229)",
)
.short('p')
.default("1229");
const RETRANS: OptionSpec = OptionSpec::text(
    "retrans",
    "[tenths]",
    "Multicast retransmit time (in 1/10sec; default=20)",
)
.short('r')
.default("20");
const AUTH: OptionSpec = OptionSpec::text(
    "auth",
    "[auth]",
    "Authentication (none, sha1, [sha256], sha512)",
)
.short('C')
.default("sha256");
const HASH: OptionSpec = OptionSpec::text(
    "hash",
    "[hash]",
    "Packet hash strength (none, sha1, [sha256], sha512)",
)
.short('c')
.default("sha256");
const KEY_FILE: OptionSpec = OptionSpec::text(
    "key_file",
    "[file]",
    "Shared key file (default=/etc/cluster/fence_xvm.key)",
)
.short('k')
.default("/etc/cluster/fence_xvm.key");
const PLUG: OptionSpec =
    OptionSpec::text("plug", "[domain]", "Virtual Machine (domain name) to fence")
        .short('n')
        .alias("port");
const USE_UUID: OptionSpec =
    OptionSpec::flag("use_uuid", "Treat [domain] as UUID instead of domain name").short('u');
const TIMEOUT: OptionSpec = OptionSpec::text(
    "timeout",
    "[seconds]",
    "Fencing timeout (in seconds; default=30)",
)
.short('t')
.kind(Kind::Seconds)
.default("30");
const DELAY: OptionSpec = OptionSpec {
    short: Some('w'),
    ..options::DELAY
};

const OPTIONS: &[OptionSpec] = &[
    IP_FAMILY,
    MULTICAST_ADDRESS,
    IPPORT,
    RETRANS,
    AUTH,
    HASH,
    KEY_FILE,
    PLUG,
    USE_UUID,
    TIMEOUT,
    DELAY,
    options::METHOD,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
];

const IPADDR: OptionSpec = OptionSpec::text(
    "ipaddr",
    "[address]",
    "IP address to connect to in TCP mode (default=127.0.0.1); required here: serial mode \
     is not supported yet",
)
.short('T')
.long("ipaddr");
const SERIAL_DEVICE: OptionSpec = OptionSpec::text(
    "serial_device",
    "[device]",
    "Serial device (default=/dev/ttyS1; serial mode is not supported yet)",
)
.short('D')
.default("/dev/ttyS1");
const SERIAL_PARAMS: OptionSpec = OptionSpec::text(
    "serial_params",
    "[param]",
    "Serial Parameters (default=115200,8N1; serial mode is not supported yet)",
)
.short('P')
.default("115200,8N1");
const CHANNEL_ADDRESS: OptionSpec = OptionSpec::text(
    "channel_address",
    "[address]",
    "VM Channel IP address (default=10.0.2.179; not supported yet)",
)
.short('A')
.default("10.0.2.179");
const VSOCK: OptionSpec = OptionSpec::text(
    "vsock",
    "[cid]",
    "vm socket CID to connect to in vsock mode (not supported yet)",
)
.short('S')
.kind(Kind::Integer)
.default("2");

const VIRT_OPTIONS: &[OptionSpec] = &[
    SERIAL_DEVICE,
    SERIAL_PARAMS,
    CHANNEL_ADDRESS,
    IPPORT,
    PLUG,
    TIMEOUT,
    IPADDR,
    VSOCK,
    AUTH,
    HASH,
    KEY_FILE,
    USE_UUID,
    DELAY,
    options::METHOD,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
];

/// `fence_virt`: the same requests to fence_virtd's TCP listener.
pub const VIRT_AGENT: Agent = Agent {
    name: "fence_virt",
    shortdesc: "Fence agent for virtual machines",
    longdesc: "fence_virt is an I/O Fencing agent which can be used with virtual machines \
        managed by fence_virtd. This one speaks to fence_virtd's TCP listener (--ipaddr): it \
        connects, sends a signed request, both sides prove they hold the shared key, and \
        the daemon answers. Serial and vsock modes are not supported yet. A domain the \
        daemon does not know is an error.",
    vendor_url: "https://github.com/ClusterLabs/fence-agents",
    variants: &[],
    options: VIRT_OPTIONS,
    defaults: &[],
    default_action: "reboot",
    plugs: Plugs::Required { list: true },
    needs_address: false,
    needs_login: false,
    needs_password: false,
    can_cycle: true,
    can_diag: false,
    has_status: true,
    validate: validate_virt,
    connect: connect_virt,
};

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_xvm",
    shortdesc: "Fence agent for virtual machines",
    longdesc: "fence_xvm is an I/O Fencing agent which can be used with virtual machines \
        managed by fence_virtd. It sends a signed request to the fence_virtd instances \
        listening on a multicast group; the daemon connects back, both sides prove they \
        hold the shared key, and the daemon answers. A domain the daemon does not know is \
        an error.",
    vendor_url: "https://github.com/ClusterLabs/fence-agents",
    variants: &[],
    options: OPTIONS,
    defaults: &[],
    default_action: "reboot",
    plugs: Plugs::Required { list: true },
    needs_address: false,
    needs_login: false,
    needs_password: false,
    can_cycle: true,
    can_diag: false,
    has_status: true,
    validate,
    connect,
};

fn invalid(text: String) -> UsageError {
    UsageError::Invalid(text)
}

/// fence_xvm's transport: the multicast group.
fn multicast(p: &Params) -> Result<Transport, UsageError> {
    match p
        .text("ip_family")
        .unwrap_or("auto")
        .to_ascii_lowercase()
        .as_str()
    {
        "auto" | "ipv4" => {}
        "ipv6" => {
            return Err(invalid(
                "--ip-family ipv6 is not supported yet (IPv4 only)".into(),
            ))
        }
        other => return Err(invalid(format!("--ip-family {other}: auto, ipv4 or ipv6"))),
    }
    let group_text = p.text("multicast_address").unwrap_or("225.0.0.12");
    let group: Ipv4Addr = group_text
        .parse()
        .ok()
        .filter(|a: &Ipv4Addr| a.is_multicast())
        .ok_or_else(|| {
            invalid(format!(
                "--multicast-address {group_text} is not an IPv4 multicast address"
            ))
        })?;
    Ok(Transport::Multicast(group))
}

/// fence_virt's transport: TCP to `--ipaddr` (the only mode supported).
fn tcp(p: &Params) -> Result<Transport, UsageError> {
    if p.given("vsock") {
        return Err(invalid("vsock mode (--vsock) is not supported yet".into()));
    }
    let Some(text) = p.text("ipaddr").filter(|_| p.given("ipaddr")) else {
        return Err(invalid(
            "serial mode is not supported yet: give --ipaddr (fence_virtd's TCP listener)".into(),
        ));
    };
    let addr: Ipv4Addr = text
        .parse()
        .map_err(|_| invalid(format!("--ipaddr {text} is not an IPv4 address")))?;
    Ok(Transport::Tcp(addr))
}

/// Everything but the key, from the options.
fn settings(p: &Params, transport: Transport) -> Result<XvmConfig, UsageError> {
    let port_text = p.text("ipport").unwrap_or("1229");
    let port = port_text
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid(format!("--ipport {port_text} is not a port number 1-65535")))?;
    let retrans_text = p.text("retrans").unwrap_or("20");
    let retrans = retrans_text
        .parse::<u64>()
        .ok()
        .filter(|r| (1..=600).contains(r))
        .ok_or_else(|| {
            invalid(format!(
                "--retrans {retrans_text}: tenths of a second, 1-600"
            ))
        })?;
    let hash_of = |name: &str| {
        let word = p.text(name).unwrap_or("sha256");
        Hash::parse(word)
            .ok_or_else(|| invalid(format!("--{name} {word}: none, sha1, sha256 or sha512")))
    };
    Ok(XvmConfig {
        transport,
        port,
        hash: hash_of("hash")?,
        auth: hash_of("auth")?,
        key: Vec::new(),
        uuid: p.flag("use_uuid"),
        retrans: Duration::from_millis(retrans * 100),
        timeout: p.seconds("timeout").unwrap_or(Duration::from_secs(30)),
    })
}

fn validate(p: &Params) -> Result<(), UsageError> {
    settings(p, multicast(p)?).map(|_| ())
}

fn validate_virt(p: &Params) -> Result<(), UsageError> {
    settings(p, tcp(p)?).map(|_| ())
}

/// The key: the first [`wire::MAX_KEY`] bytes of the key file (as ClusterLabs reads it).
fn read_key(path: &str) -> Result<Vec<u8>, DeviceError> {
    use std::io::Read;
    let mut key = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(wire::MAX_KEY as u64).read_to_end(&mut key))
        .map_err(|e| DeviceError::LoginDenied(format!("cannot read the key file {path}: {e}")))?;
    Ok(key)
}

fn connect(p: &Params, _deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let usage = |e: UsageError| DeviceError::Protocol(e.to_string());
    device(p, multicast(p).map_err(usage)?)
}

fn connect_virt(p: &Params, _deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let usage = |e: UsageError| DeviceError::Protocol(e.to_string());
    device(p, tcp(p).map_err(usage)?)
}

fn device(p: &Params, transport: Transport) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let mut config = settings(p, transport).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    if config.hash != Hash::None || config.auth != Hash::None {
        config.key = read_key(p.text("key_file").unwrap_or("/etc/cluster/fence_xvm.key"))?;
    }
    let mut log = AgentLog::with_verbosity(p.quiet, p.verbose);
    if let Some(path) = p.text("debug_file") {
        let _ = log.open_debug_file(path);
    }
    Ok(Box::new(XvmDevice::new(config, log)))
}
