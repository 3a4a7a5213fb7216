//! Property tests (fuzzing on stable Rust, issue #16) of the agents' public parsers: SNMP
//! BER messages (v1/v2c community, v3 with USM parameters, scoped PDUs) and USM privacy,
//! agent stdin options and the agents' option checks, SSH options / known_hosts / prompts,
//! the virsh, iLO CLP and PDU/DRAC command line output parsers, telnet negotiation.
//! Random inputs and mutations of valid encodings.
//! Invariants: no panic, a bounded allocation, an error with a message when refused.
//! `PROPTEST_CASES` raises the case count (`bench/fuzz.sh`).

use fence_agents::args::parse_stdin;
use fence_agents::params::Params;
use fence_agents::snmp::ber::{self, Reader};
use fence_agents::snmp::message::{
    self, Pdu, PduType, ScopedPdu, UsmParams, V3Data, V3Out, Version,
};
use fence_agents::snmp::usm::{self, AuthProtocol, PrivProtocol};
use fence_agents::snmp::{Oid, Value};
use fence_agents::ssh::{known_hosts, openssh_options, shell};
use proptest::prelude::*;
use testkit::fuzz::{self, check};

#[global_allocator]
static ALLOC: testkit::alloc::Tracking = testkit::alloc::Tracking;

const CASES: u32 = 256;
/// The most one regex compilation may allocate at once (the regex crate's default size
/// limit is 10 MiB).
const REGEX_LIMIT: usize = 16 << 20;

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

// ---- SNMP ----

fn oid() -> impl Strategy<Value = Oid> {
    prop::collection::vec(any::<u32>(), 0..8).prop_filter_map("valid oid", |mut arcs| {
        arcs.splice(0..0, [1, 3, 6]);
        Oid::from_arcs(&arcs).ok()
    })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Value::OctetString),
        Just(Value::Null),
        oid().prop_map(Value::ObjectId),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        any::<u64>().prop_map(Value::Counter64),
        Just(Value::NoSuchObject),
        Just(Value::NoSuchInstance),
        Just(Value::EndOfMibView),
    ]
}

fn pdu() -> impl Strategy<Value = Pdu> {
    (
        prop::sample::select(vec![
            PduType::Get,
            PduType::GetNext,
            PduType::Set,
            PduType::Response,
        ]),
        any::<i32>(),
        prop::collection::vec((oid(), value()), 0..4),
    )
        .prop_map(|(kind, id, binds)| Pdu::request(kind, id, binds))
}

fn community_message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![Version::V1, Version::V2c]),
        "[a-z]{0,10}",
        pdu(),
    )
        .prop_map(|(v, c, p)| message::encode_community(v, c.as_bytes(), &p))
}

fn usm_params() -> impl Strategy<Value = UsmParams> {
    (
        prop::collection::vec(any::<u8>(), 0..12),
        any::<u32>(),
        any::<u32>(),
        "[a-z]{0,8}",
        prop::collection::vec(any::<u8>(), 0..12),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(engine_id, boots, time, user, auth, privacy)| UsmParams {
            engine_id,
            engine_boots: boots,
            engine_time: time,
            user_name: user.into_bytes(),
            auth_params: auth,
            priv_params: privacy,
        })
}

fn scoped_pdu() -> impl Strategy<Value = ScopedPdu> {
    (
        prop::collection::vec(any::<u8>(), 0..8),
        "[a-z]{0,4}",
        pdu(),
    )
        .prop_map(|(engine, context, pdu)| ScopedPdu {
            context_engine_id: engine,
            context_name: context.into_bytes(),
            pdu,
        })
}

fn v3_message() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<i32>(),
        any::<u8>(),
        usm_params(),
        scoped_pdu(),
        any::<bool>(),
    )
        .prop_map(|(msg_id, flags, usm, scoped, encrypted)| {
            let plain = scoped.encode();
            let data = if encrypted {
                ber::octets(&plain)
            } else {
                plain
            };
            message::encode_v3(&V3Out {
                msg_id,
                flags,
                usm: &usm,
                data: &data,
            })
            .0
        })
}

fn snmp_inputs() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => fuzz::bytes(300),
        3 => fuzz::mutated(community_message(), 6),
        3 => fuzz::mutated(v3_message(), 6),
    ]
}

#[test]
fn snmp_community_decode_never_panics() {
    check("snmp::decode_community", CASES, snmp_inputs(), |b| {
        match bounded(b.len(), 16, || message::decode_community(&b))? {
            Ok((_, _, pdu)) => {
                for (_, v) in &pdu.varbinds {
                    let _ = (v.as_integer(), v.as_text(), v.is_absent());
                }
                let _ = pdu.encode();
            }
            Err(e) => has_message(&e)?,
        }
        Ok(())
    });
}

#[test]
fn snmp_v3_decode_never_panics() {
    check(
        "snmp::decode_v3 + ScopedPdu::decode",
        CASES,
        snmp_inputs(),
        |b| {
            let _ = message::peek_version(&b);
            match bounded(b.len(), 16, || message::decode_v3(&b))? {
                Ok(m) => {
                    prop_assert!(m.auth_offset + m.usm.auth_params.len() <= b.len());
                    if let V3Data::Plain(scoped) = m.data {
                        if let Err(e) = bounded(scoped.len(), 16, || ScopedPdu::decode(scoped))? {
                            has_message(&e)?;
                        }
                    }
                }
                Err(e) => has_message(&e)?,
            }
            Ok(())
        },
    );
}

#[test]
fn ber_reader_never_panics() {
    check("snmp::ber::Reader", CASES, snmp_inputs(), |b| {
        let mut r = Reader::new(&b);
        // Walk every element, descending into constructed ones (bounded by the input).
        let mut stack = vec![];
        let mut steps = 0;
        loop {
            steps += 1;
            prop_assert!(steps <= b.len() + 2, "the reader does not advance");
            match r.read() {
                Ok(t) => {
                    let _ = (t.as_i64(), t.as_u64(), Oid::from_content(t.content));
                    if t.tag & 0x20 != 0 {
                        stack.push(r);
                        r = t.reader();
                    }
                }
                Err(_) if r.is_empty() => match stack.pop() {
                    Some(outer) => r = outer,
                    None => break,
                },
                Err(e) => {
                    has_message(&e)?;
                    break;
                }
            }
        }
        let _ = Pdu::decode(&mut Reader::new(&b));
        Ok(())
    });
}

#[test]
fn usm_decrypt_never_panics() {
    let input = (
        prop::sample::select(vec![PrivProtocol::Des, PrivProtocol::Aes128]),
        fuzz::bytes(24),
        any::<(u32, u32)>(),
        fuzz::bytes(12),
        fuzz::bytes(100),
    );
    check(
        "snmp::usm::decrypt",
        CASES,
        input,
        |(p, key, (boots, time), salt, data)| {
            if let Err(e) = bounded(data.len(), 4, || {
                usm::decrypt(p, &key, boots, time, &salt, &data)
            })? {
                has_message(&e)?;
            }
            let auth = if key.len() % 2 == 0 {
                AuthProtocol::Md5
            } else {
                AuthProtocol::Sha1
            };
            prop_assert!(!usm::verify(auth, &key, &data, &salt) || salt.len() == 12);
            Ok(())
        },
    );
}

// ---- agent stdin options ----

/// Lines of `name=value` an agent reads on stdin: known option names with odd values,
/// unknown names, comments, missing `=`.
fn stdin_text(names: Vec<&'static str>) -> impl Strategy<Value = String> {
    let line = prop_oneof![
        4 => (prop::sample::select(names), "[ -~]{0,20}").prop_map(|(n, v)| format!("{n}={v}")),
        1 => "[ -~]{0,30}",
        1 => Just("#comment".to_string()),
        1 => (prop::sample::select(vec!["ipport", "power_timeout", "delay", "port", "plug"]),
              prop_oneof![Just("-1".to_string()), Just("99999999999999999999".to_string()),
                          Just("1e9".to_string()), Just("".to_string())])
            .prop_map(|(n, v)| format!("{n}={v}")),
    ];
    prop_oneof![
        4 => prop::collection::vec(line, 0..12).prop_map(|l| l.join("\n")),
        1 => "(?s).{0,200}",
    ]
}

const AGENTS: &[(&str, fence_agents::agent::Agent)] = &[
    ("fence_ipmilan", fence_agents::agents::ipmilan::AGENT),
    ("fence_redfish", fence_agents::agents::redfish::AGENT),
    ("fence_virsh", fence_agents::agents::virsh::AGENT),
    ("fence_ilo_ssh", fence_agents::agents::ilo_ssh::AGENT),
    ("fence_apc_snmp", fence_agents::agents::apc_snmp::AGENT),
    ("fence_dummy", fence_agents::agents::dummy::AGENT),
    ("fence_sbd", fence_agents::agents::sbd::AGENT),
    // agents-cloud (issue 13): option checks only, in process (no agent is run).
    ("fence_aws", fence_agents::agents::aws::AGENT),
    ("fence_xvm", fence_agents::agents::xvm::AGENT),
    ("fence_virt", fence_agents::agents::xvm::VIRT_AGENT),
    ("fence_cisco_mds", fence_agents::agents::cisco_mds::AGENT),
];

#[test]
fn agent_stdin_options_never_panic() {
    for (name, agent) in AGENTS {
        let specs = agent.invoked_as(name).options();
        let names: Vec<&'static str> = specs.iter().map(|s| s.name).collect();
        check(
            &format!("args::parse_stdin + Params ({name})"),
            CASES / 4,
            (stdin_text(names), any::<bool>()),
            |(text, pacemaker)| {
                let raw = bounded(text.len(), 16, || parse_stdin(&specs, &text))?;
                match Params::from_raw(&specs, &raw, "reboot", pacemaker) {
                    Ok(p) => {
                        if let Err(e) = p.check_required(agent) {
                            has_message(&e)?;
                        }
                        // The agents' own option checks on whatever was given.
                        let _ = fence_agents::agents::ipmilan::config(&p);
                        let _ = fence_agents::agents::redfish::config(&p);
                        let _ = fence_agents::ssh::validate(&p);
                        let _ = fence_agents::ssh::target(&p, 22);
                        let _ = fence_agents::ssh::command_limits(&p);
                        if let Err(e) = (agent.validate)(&p) {
                            has_message(&e)?;
                        }
                    }
                    Err(e) => has_message(&e)?,
                }
                Ok(())
            },
        );
    }
}

#[test]
fn kdump_options_never_panic() {
    let specs = fence_agents::agents::kdump::OPTIONS;
    let names: Vec<&'static str> = specs.iter().map(|s| s.name).collect();
    check("kdump::config", CASES / 4, stdin_text(names), |text| {
        let raw = parse_stdin(specs, &text);
        if let Err(e) = fence_agents::agents::kdump::config(&raw) {
            has_message(&e)?;
        }
        Ok(())
    });
}

// ---- SSH: options, known_hosts, prompts, CLI output ----

#[test]
fn ssh_option_text_never_panics() {
    let text = prop_oneof![
        "(?s).{0,120}",
        fuzz::mutated_text(
            Just("-o StrictHostKeyChecking=no -p 2222 -i '/k ey' -l root -oPort=22 \"-4\"".into()),
            6
        ),
    ];
    check("ssh::openssh_options::parse", CASES, text, |t| {
        if let Err(e) = bounded(t.len(), 32, || openssh_options::parse(&t))? {
            has_message(&e)?;
        }
        Ok(())
    });
}

#[test]
fn known_hosts_never_panic() {
    let valid = "|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|aGFzaGhhc2hoYXNoaGFzaGhhc2g= ssh-ed25519 \
                 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n\
                 [127.0.0.1]:2222,host ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ== c\n\
                 @revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n\
                 @cert-authority *.lab ssh-ed25519 AAAA\n";
    let input = (
        prop_oneof![
            "(?s).{0,200}",
            fuzz::mutated_text(Just(valid.to_string()), 8)
        ],
        fuzz::bytes(40),
        "[a-z0-9.]{0,10}",
        any::<u16>(),
    );
    check(
        "ssh::known_hosts",
        CASES,
        input,
        |(text, key, host, port)| {
            let entries = bounded(text.len(), 16, || known_hosts::parse(&text))?;
            let token = known_hosts::host_token(&host, port);
            let _ = known_hosts::check(&entries, &token, &key);
            let _ = known_hosts::blob_key_type(&key);
            Ok(())
        },
    );
}

#[test]
fn prompts_and_shell_output_never_panic() {
    let input = (
        prop_oneof![
            "(?s).{0,40}",
            Just("['\\$ ', '# ', '</>hpiLO-> ']".to_string()),
            fuzz::mutated_text(Just("['\\$ ', '# ']".to_string()), 4),
        ],
        "(?s).{0,200}",
    );
    check("ssh::shell prompts", CASES, input, |(prompts, output)| {
        // Prompts are regexes: compiling one allocates up to the regex crate's size limit
        // (10 MiB), whatever the pattern's length.
        let (parsed, largest) = testkit::alloc::largest_during(|| shell::parse_prompts(&prompts));
        prop_assert!(largest <= REGEX_LIMIT, "{largest} bytes for one regex");
        match parsed {
            Ok(p) => {
                if let Some((a, b)) = shell::find_prompt(&output, &p) {
                    prop_assert!(a <= b && b <= output.len());
                }
            }
            Err(e) => has_message(&e)?,
        }
        let _ = shell::plain_text(&output);
        Ok(())
    });
}

#[test]
fn virsh_and_ilo_output_never_panic() {
    let virsh = " Id   Name      State\n--------------------\n 1    vm1       running\n \
                 -    vm-two    shut off\n 3    x y       paused\n";
    let clp = "status=0\nstatus_tag=COMMAND COMPLETED\n/system1\n  EnabledState=enabled\n";
    let input = prop_oneof![
        "(?s).{0,200}",
        fuzz::mutated_text(Just(virsh.to_string()), 8),
        fuzz::mutated_text(Just(clp.to_string()), 8),
        fuzz::mutated_text(Just("error: failed to get domain 'x'\n".to_string()), 4),
    ];
    check("virsh/ilo CLI output", CASES, input, |text| {
        use fence_agents::agents::{ilo_ssh, virsh};
        let _ = virsh::parse_domstate(&text);
        let listed = bounded(text.len(), 16, || virsh::parse_list(&text))?;
        prop_assert!(listed.len() <= text.lines().count());
        if let Err(e) = ilo_ssh::clp_status(&text) {
            prop_assert!(e.starts_with("status="), "{e}");
        }
        let _ = ilo_ssh::enabled_state(&text);
        Ok(())
    });
}

#[test]
fn pdu_cli_output_never_panics() {
    let apc = "E000: Success\n 1: Outlet 1: On\n 2: db: Off\n";
    let wti = "Plug | Name | Status | Boot Delay |\n-----+------+--------+\n 1   | a    |   ON   | 0.5 Secs |\n\
               \x20GROUP NAME | PLUG | NAME | STATUS |\n---+---+---+---+\n g | 1 | a | ON |\n   | 2 | b | OFF |\n";
    let drac = "Chassis  Present  ON  OK\nserver-1  Present  OFF  OK\n  1 ----> x  Present ON\n\
                Server power status: ON\n";
    let cyber = "        Index   Name    Status\n        1       Outlet1 On\n";
    let input = prop_oneof![
        "(?s).{0,200}",
        fuzz::mutated_text(Just(apc.to_string()), 8),
        fuzz::mutated_text(Just(wti.to_string()), 8),
        fuzz::mutated_text(Just(drac.to_string()), 8),
        fuzz::mutated_text(Just(cyber.to_string()), 8),
    ];
    check("PDU CLI output", CASES, input, |text| {
        use fence_agents::agents::{apc, bladecenter, cyberpower, drac5, rsa, wti};
        let lines = text.lines().count();
        // Each parser compiles its regex: allocations up to the regex crate's limit.
        let (outlets, largest) = testkit::alloc::largest_during(|| apc::parse_ol_status(&text));
        prop_assert!(largest <= REGEX_LIMIT, "{largest} bytes");
        prop_assert!(outlets.len() <= lines);
        prop_assert!(wti::parse_plugs(&text).len() <= lines);
        prop_assert!(wti::parse_groups(&text).len() <= lines);
        prop_assert!(cyberpower::parse_oltsta(&text).len() <= lines);
        prop_assert!(bladecenter::blades(&text).len() <= lines);
        for kind in [drac5::Kind5::Drac5, drac5::Kind5::Cmc, drac5::Kind5::Mc] {
            prop_assert!(drac5::modules(kind, &text).len() <= lines);
        }
        let _ = drac5::power_word(&text);
        let _ = rsa::power_state(&text);
        let _ = apc::firmware_major(&text);
        Ok(())
    });
}

#[test]
fn telnet_negotiation_never_panics_or_loops() {
    let input = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        fuzz::mutated(
            Just(vec![
                255, 251, 1, 255, 253, 24, 255, 250, 24, 1, 255, 240, b'a'
            ]),
            8
        ),
    ];
    check("telnet negotiation", CASES, input, |bytes| {
        use fence_agents::cli::telnet::Negotiator;
        let mut n = Negotiator::new();
        // Fed whole and fed byte by byte, the data is the same.
        let whole = n.feed(&bytes);
        let mut one = Negotiator::new();
        let mut data = Vec::new();
        let mut split_ok = true;
        for b in &bytes {
            match one.feed(&[*b]) {
                Ok(fed) => data.extend(fed.data),
                Err(_) => {
                    split_ok = false;
                    break;
                }
            }
        }
        if let (Ok(fed), true) = (whole, split_ok) {
            prop_assert_eq!(fed.data, data);
            // Every reply is whole IAC commands: at most one per request received.
            prop_assert!(fed.reply.len() <= bytes.len());
        }
        Ok(())
    });
}
