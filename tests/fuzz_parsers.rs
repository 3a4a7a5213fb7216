//! Property tests (fuzzing on stable Rust, issue #16) of the root crate's parsers: heartbeat
//! packets and the challenge book-keeping fed by them, the fencer and node TOML files,
//! API request lines. Inputs are random bytes/text and mutations of valid encodings.
//! Invariants: no panic, a bounded allocation, and an error with a message when refused.
//! `PROPTEST_CASES` raises the case count (`bench/fuzz.sh`).

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use palisade::cluster::challenge::{Challenges, Nonce, NONCE_LEN, SEED_LEN};
use palisade::cluster::packet::{self, Key, Packet, MAX_MEMBERS};
use proptest::prelude::*;
use sha2::Sha256;
use testkit::fuzz::{self, check};

#[global_allocator]
static ALLOC: testkit::alloc::Tracking = testkit::alloc::Tracking;

const CASES: u32 = 256;
/// The most one regex compilation may allocate at once (the regex crate's default size
/// limit is 10 MiB).
const REGEX_LIMIT: usize = 16 << 20;
/// TOML and JSON parsing is slower: fewer cases per run by default.
const TEXT_CASES: u32 = 128;
const CLUSTER: u32 = 42;
const KEY: &[u8] = b"0123456789abcdef-fuzz";
const MAC_LEN: usize = 32;

fn key() -> Key {
    Key::new(KEY).unwrap_or_else(|e| panic!("test key: {e}"))
}

/// The allocation bound of a parse and the message of a refusal.
fn bounded<T>(len: usize, factor: usize, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let (out, largest) = testkit::alloc::largest_during(f);
    let limit = fuzz::memory_bound(len, factor);
    prop_assert!(
        largest <= limit,
        "allocated {largest} bytes at once for {len} input bytes (limit {limit})"
    );
    Ok(out)
}

fn has_message(e: &impl std::fmt::Display) -> Result<(), TestCaseError> {
    prop_assert!(
        !e.to_string().trim().is_empty(),
        "an error without a message"
    );
    Ok(())
}

// ---- heartbeat packets ----

fn nonce() -> impl Strategy<Value = Nonce> {
    any::<[u8; NONCE_LEN]>().prop_map(Nonce)
}

fn packet_value() -> impl Strategy<Value = Packet> {
    (
        any::<(u32, u64, u64, bool)>(),
        prop::collection::vec(any::<u32>(), 0..8),
        prop::collection::vec((any::<u32>(), nonce()), 0..4),
        prop::collection::vec((any::<u32>(), nonce()), 0..4),
    )
        .prop_map(
            |((from, incarnation, seq, quorate), members, challenges, echoes)| Packet {
                cluster: CLUSTER,
                from,
                incarnation,
                seq,
                quorate,
                members,
                challenges,
                echoes,
            },
        )
}

/// Replace the trailing HMAC with the right one for the (mutated) body, so mutations reach
/// the structure checks behind the MAC.
fn resign(mut b: Vec<u8>) -> Vec<u8> {
    if b.len() < MAC_LEN {
        return b;
    }
    let body_len = b.len() - MAC_LEN;
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap_or_else(|e| panic!("hmac: {e}"));
    mac.update(&b[..body_len]);
    b[body_len..].copy_from_slice(&mac.finalize().into_bytes());
    b
}

fn datagrams() -> impl Strategy<Value = Vec<u8>> {
    let valid = || packet_value().prop_map(|p| packet::encode(&p, &key()));
    prop_oneof![
        1 => fuzz::bytes(200),
        2 => fuzz::mutated(valid(), 6),
        3 => fuzz::mutated(valid(), 6).prop_map(resign),
    ]
}

#[test]
fn heartbeat_decode_never_panics() {
    let key = key();
    check("cluster::packet::decode", CASES, datagrams(), |b| {
        match bounded(b.len(), 4, || packet::decode(&b, &key, CLUSTER))? {
            Ok(p) => {
                prop_assert!(p.members.len() <= MAX_MEMBERS);
                prop_assert!(p.challenges.len() <= MAX_MEMBERS && p.echoes.len() <= MAX_MEMBERS);
                // What decodes re-encodes to a datagram that decodes the same (the reserved
                // bits of the flags byte are ignored, so not always to the same bytes).
                let again = packet::encode(&p, &key);
                prop_assert_eq!(packet::decode(&again, &key, CLUSTER), Ok(p));
            }
            Err(e) => has_message(&e)?,
        }
        Ok(())
    });
}

#[test]
fn heartbeat_round_trips() {
    let key = key();
    check("cluster::packet round trip", CASES, packet_value(), |p| {
        let b = packet::encode(&p, &key);
        prop_assert_eq!(packet::decode(&b, &key, CLUSTER), Ok(p));
        Ok(())
    });
}

// ---- challenges: what decoded packets drive ----

#[derive(Debug, Clone)]
enum Op {
    Challenge(u32, u64),
    /// Echo of the open nonce (true) or of a random one.
    Answer(u32, bool, Nonce, u64),
    Expire(u64),
    Asked(u32, (u64, u64), Option<Nonce>),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let peer = 0u32..4;
    let ms = 0u64..5_000;
    prop::collection::vec(
        prop_oneof![
            (peer.clone(), ms.clone()).prop_map(|(p, t)| Op::Challenge(p, t)),
            (peer.clone(), any::<bool>(), nonce(), ms.clone())
                .prop_map(|(p, own, n, t)| Op::Answer(p, own, n, t)),
            ms.prop_map(Op::Expire),
            (peer, any::<(u64, u64)>(), prop::option::of(nonce()))
                .prop_map(|(p, at, n)| Op::Asked(p, at, n)),
        ],
        0..40,
    )
}

#[test]
fn challenges_never_panic_and_only_their_nonce_answers() {
    let input = (any::<[u8; SEED_LEN]>(), 1u64..86_400_000, ops());
    check(
        "cluster::challenge ops",
        CASES,
        input,
        |(seed, life, ops)| {
            let start = Instant::now();
            let mut book = Challenges::new(seed, Duration::from_millis(life));
            let mut clock = 0u64;
            for op in ops {
                match op {
                    Op::Challenge(p, dt) => {
                        clock += dt;
                        book.challenge(p, start + Duration::from_millis(clock));
                    }
                    Op::Answer(p, own, n, dt) => {
                        clock += dt;
                        let open = book.open().into_iter().find(|(q, _)| *q == p).map(|o| o.1);
                        let echo = if own { open } else { Some(n) };
                        let ok = book.answered(p, echo, start + Duration::from_millis(clock));
                        if ok {
                            prop_assert!(
                                echo.is_some() && echo == open,
                                "a foreign nonce answered"
                            );
                        }
                    }
                    Op::Expire(dt) => {
                        clock += dt;
                        book.expire(start + Duration::from_millis(clock));
                    }
                    Op::Asked(p, at, n) => {
                        book.asked(p, at, n);
                    }
                }
                let _ = (book.next_expiry(), book.echoes());
            }
            Ok(())
        },
    );
}

// ---- fencer configuration ----

const FENCER_TOML: &str = r#"
[fencing]
stonith-timeout = "90s"
fencing_action = "off"
priority-fencing-delay = 10
concurrent-fencing = false
stonith-max-attempts = 3

[daemon]
socket = "/tmp/x.sock"
socket-mode = "0666"
allowed-group = "haclient"
history = "/tmp/h.jsonl"
metrics-listen = "127.0.0.1:9464"
node-name = "self"

[[device]]
name = "ipmi1"
agent = "fence_ipmilan"
priority = 5
params = { ip = "127.0.0.1", ipport = 623, lanplus = true, pcmk_host_list = "node1", pcmk_off_timeout = "20s" }

[[device]]
name = "pdu"
agent = "/usr/local/sbin/fence_pdu"
[device.params]
pcmk_host_map = "node1:1;node2:2"

[[level]]
index = 1
target = "node1"
devices = ["ipmi1"]

[[fencing-level]]
index = 2
target-pattern = "^node[0-9]$"
devices = "pdu,ipmi1"

[[level]]
index = 1
target-attribute = "rack"
target-value = "r1"
devices = ["pdu"]

[[node]]
name = "db1"
attributes = { rack = "r1" }
"#;

/// Values TOML fields get in mutated configurations: edge numbers, durations, odd text.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("18446744073709551615".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("nan".to_string()),
        "\"[0-9]{1,25}(ms|s|m|h|d|x)?\"",
        "\"[ -~]{0,12}\"",
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
    ]
}

/// `valid` with the value of one `key = value` line (chosen by `at`) replaced.
fn with_value(valid: &str, at: usize, value: &str) -> String {
    let lines: Vec<&str> = valid.lines().collect();
    let assignments: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(" = "))
        .collect();
    if assignments.is_empty() {
        return valid.to_string();
    }
    let pick = assignments[at % assignments.len()];
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| match l.split_once(" = ") {
            Some((k, _)) if i == pick => format!("{k} = {value}"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Random text, byte mutations of `valid`, and field-value substitutions in it.
fn toml_inputs(valid: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => "(?s).{0,200}",
        2 => fuzz::mutated_text(Just(valid.to_string()), 6),
        3 => (any::<usize>(), toml_value()).prop_map(move |(at, v)| with_value(valid, at, &v)),
    ]
}

#[test]
fn fencer_config_parse_never_panics() {
    check(
        "fencer::config::parse_config",
        TEXT_CASES,
        toml_inputs(FENCER_TOML),
        |text| {
            // The regex of a target-pattern compiles within the regex crate's size limit
            // (10 MiB), whatever the pattern's length.
            let (out, largest) =
                testkit::alloc::largest_during(|| palisade::fencer::config::parse_config(&text));
            prop_assert!(largest <= REGEX_LIMIT.max(fuzz::memory_bound(text.len(), 64)));
            if let Err(e) = out {
                has_message(&e)?;
            }
            Ok(())
        },
    );
}

// ---- node configuration ----

const NODE_TOML: &str = r#"
[cluster]
id = 42
key-file = "/etc/palisade/authkey"
port = 5500
node = "node1"

[timers]
keepalive = "200ms"
deadtime = "1s"
initdead = "3s"

[quorum]
auto-tie-breaker = ["node2", "node1"]
no-quorum-policy = "suicide"

[fencing]
action = "off"
race-delay = "3s"
self-fence = "record:/tmp/sf"

[[node]]
name = "node1"
id = 1
addresses = ["10.0.0.1", "10.1.0.1"]
fence-agent = "fence_dummy"
fence-params = { status_file = "/tmp/n1", verbose = true, delay = 0 }

[[node]]
name = "node2"
id = 2
addresses = ["10.0.0.2", "10.1.0.2"]
votes = 2
fence-agent = "/usr/sbin/fence_dummy"

[[resource]]
name = "db"
agent = "ocf:heartbeat:Dummy"
params = { state = "/run/db.state" }
allowed = ["node2", "node1"]
priority = 10
monitor-interval = "2s"
"#;

#[test]
fn node_config_parse_never_panics() {
    check(
        "node::config::parse",
        TEXT_CASES,
        (toml_inputs(NODE_TOML), prop::option::of("[a-z0-9]{0,6}")),
        |(text, local)| {
            let read_key = |_: &std::path::Path| Ok(b"0123456789abcdef".to_vec());
            let out = bounded(text.len(), 64, || {
                palisade::node::config::parse(&text, local.as_deref(), read_key)
            })?;
            if let Err(e) = out {
                has_message(&e)?;
            }
            Ok(())
        },
    );
}

// ---- API request lines ----

const REQUESTS: &[&str] = &[
    r#"{"v":1,"id":"a1","request":"fence","target":"node1","action":"off","timeout_ms":5000}"#,
    r#"{"request":"devices"}"#,
    r#"{"id":3,"request":"history","target":"n1","limit":5}"#,
    r#"{"request":"register-level","target":{"by":"pattern","value":"^n"},"index":2,"devices":["a"]}"#,
    r#"{"request":"register-level","target":{"by":"attribute","value":{"name":"rack","value":"r1"}},"index":1,"devices":["a"]}"#,
];

fn request_lines() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop::sample::select(REQUESTS).prop_map(|s| s.as_bytes().to_vec());
    let deep = (1usize..4000).prop_map(|n| {
        let mut b = vec![b'['; n];
        b.extend(std::iter::repeat_n(b']', n));
        b
    });
    prop_oneof![
        1 => fuzz::bytes(200),
        4 => fuzz::mutated(valid, 6),
        1 => deep,
    ]
}

#[test]
fn api_request_lines_never_panic() {
    check(
        "api::protocol::parse_request",
        TEXT_CASES,
        request_lines(),
        |line| {
            match bounded(line.len(), 64, || {
                palisade::api::protocol::parse_request(&line)
            })? {
                Ok((_, request)) => {
                    // A parsed request serialises back (the server logs and echoes it).
                    prop_assert!(serde_json::to_string(&request).is_ok());
                }
                Err(rejected) => has_message(&rejected.error.message)?,
            }
            Ok(())
        },
    );
}
