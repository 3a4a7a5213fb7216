//! Property tests (fuzzing on stable Rust, issue #16) of the RMCP/RMCP+ and IPMB reply
//! parsers and the RAKP handshake messages: random datagrams, and valid packets built by
//! our own encoders with byte edits (payloads mutated before sealing, so the integrity
//! HMAC holds and the edit reaches the decryption and padding checks). Invariants: no
//! panic, a bounded allocation, a typed error. `PROPTEST_CASES` raises the case count.

use proptest::prelude::*;
use testkit::fuzz::{self, check};

use super::cipher::CipherSuite;
use super::crypto::Hash;
use super::rakp::{self, Handshake};
use super::wire::{self, SessionKeys, V15Auth};

/// The lib's unit-test binary tracks allocations for every fuzz module (ipmi, redfish).
#[global_allocator]
static ALLOC: testkit::alloc::Tracking = testkit::alloc::Tracking;

const CASES: u32 = 256;

fn bounded<T>(len: usize, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let (out, largest) = testkit::alloc::largest_during(f);
    let limit = fuzz::memory_bound(len, 4);
    prop_assert!(
        largest <= limit,
        "allocated {largest} bytes at once for {len} input bytes"
    );
    Ok(out)
}

fn keys() -> impl Strategy<Value = SessionKeys> {
    let integrity = prop::option::of((
        prop::sample::select(vec![Hash::Sha1, Hash::Md5, Hash::Sha256]),
        prop::collection::vec(any::<u8>(), 0..32),
        prop::sample::select(vec![12usize, 16, 20, 32]),
    ));
    (integrity, prop::option::of(any::<[u8; 16]>()))
        .prop_map(|(integrity, aes)| SessionKeys { integrity, aes })
}

/// Datagrams for `keys`: random, a valid packet edited after sealing, or one sealed over
/// an edited payload.
fn v20_inputs() -> impl Strategy<Value = (SessionKeys, Vec<u8>)> {
    (
        keys(),
        fuzz::bytes(64),
        any::<(u8, u32, u32)>(),
        any::<[u8; 16]>(),
        prop::collection::vec(any::<usize>(), 0..4),
        0u8..3,
    )
        .prop_flat_map(|(keys, payload, (ty, sid, seq), iv, _, how)| {
            let sealed = wire::v20_packet(&keys, ty & 0x3F, sid, seq, &payload, iv);
            let k = keys.clone();
            let input: BoxedStrategy<Vec<u8>> = match how {
                0 => fuzz::bytes(120).boxed(),
                1 => fuzz::mutated(Just(sealed), 6).boxed(),
                _ => fuzz::mutated(Just(payload), 4)
                    .prop_map(move |p| wire::v20_packet(&k, ty & 0x3F, sid, seq, &p, iv))
                    .boxed(),
            };
            (Just(keys), input)
        })
}

#[test]
fn rmcp_plus_replies_never_panic() {
    check(
        "ipmi::wire::parse_v20_packet",
        CASES,
        v20_inputs(),
        |(keys, pkt)| {
            match bounded(pkt.len(), || wire::parse_v20_packet(&keys, &pkt))? {
                Ok(p) => prop_assert!(p.payload.len() <= pkt.len()),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            Ok(())
        },
    );
}

#[test]
fn rmcp_plus_round_trips_with_encryption_without_integrity() {
    // A session with confidentiality but no integrity: every edit of the ciphertext reaches
    // the AES padding checks directly.
    let input = (
        any::<[u8; 16]>(),
        fuzz::bytes(48),
        any::<[u8; 16]>(),
        any::<usize>(),
        any::<u8>(),
    );
    check(
        "ipmi::wire AES padding",
        CASES,
        input,
        |(key, payload, iv, at, b)| {
            let keys = SessionKeys {
                integrity: None,
                aes: Some(key),
            };
            let mut pkt = wire::v20_packet(&keys, wire::PAYLOAD_IPMI, 1, 2, &payload, iv);
            prop_assert_eq!(
                wire::parse_v20_packet(&keys, &pkt).map(|p| p.payload),
                Ok(payload)
            );
            let i = 16 + at % (pkt.len() - 16);
            pkt[i] ^= b | 1;
            let _ = bounded(pkt.len(), || wire::parse_v20_packet(&keys, &pkt))?;
            Ok(())
        },
    );
}

#[test]
fn ipmi_15_and_ipmb_replies_never_panic() {
    let auth = prop::sample::select(vec![V15Auth::None, V15Auth::Md5, V15Auth::Password]);
    let valid = (
        auth,
        any::<[u8; 16]>(),
        any::<(u32, u32)>(),
        fuzz::bytes(40),
    )
        .prop_map(|(auth, pw, (seq, sid), msg)| (pw, wire::v15_packet(auth, &pw, seq, sid, &msg)));
    let input = valid.prop_flat_map(|(pw, pkt)| {
        (
            Just(pw),
            prop_oneof![fuzz::bytes(80), fuzz::mutated(Just(pkt), 6)],
        )
    });
    check("ipmi::wire v1.5 + IPMB", CASES, input, |(pw, pkt)| {
        if let Ok(p) = bounded(pkt.len(), || wire::parse_v15_packet(&pkt, &pw))? {
            let _ = bounded(p.msg.len(), || wire::parse_ipmb_response(&p.msg))?;
        }
        let _ = bounded(pkt.len(), || wire::parse_ipmb_response(&pkt))?;
        Ok(())
    });
}

fn suite() -> impl Strategy<Value = CipherSuite> {
    (0u8..20).prop_filter_map("known suite", CipherSuite::by_id)
}

#[test]
fn rakp_replies_never_panic() {
    let input = (
        suite(),
        any::<(u8, u32)>(),
        prop_oneof![
            fuzz::bytes(80),
            // A valid-looking reply: tag, status, reserved, our session id, then the rest.
            (any::<u8>(), fuzz::bytes(70)).prop_map(|(tag, rest)| {
                let mut p = vec![tag, 0, 0, 0];
                p.extend_from_slice(&7u32.to_le_bytes());
                p.extend_from_slice(&rest);
                p
            }),
        ],
    );
    check(
        "ipmi::rakp replies",
        CASES,
        input,
        |(suite, (tag, sid), p)| {
            let tag2 = p.first().copied().unwrap_or(tag);
            for sid in [sid, 7] {
                let _ = bounded(p.len(), || {
                    rakp::parse_open_session_reply(tag2, sid, suite, &p)
                })?;
                let _ = bounded(p.len(), || rakp::parse_rakp2(tag2, sid, &p))?;
                let _ = bounded(p.len(), || rakp::parse_rakp4(tag2, sid, &p))?;
            }
            let _ = rakp::status_text(tag);
            Ok(())
        },
    );
}

#[test]
fn rakp_proofs_take_any_peer_values() {
    let input = (
        suite(),
        any::<([u8; 16], [u8; 16], [u8; 16])>(),
        any::<(u32, u32, u8)>(),
        (
            fuzz::bytes(20),
            fuzz::bytes(24),
            prop::option::of(fuzz::bytes(24)),
        ),
    );
    check(
        "ipmi::rakp proofs",
        CASES,
        input,
        |(suite, (rm, rc, guid), (console_sid, managed_sid, role), (user, kuid, kg))| {
            let h = Handshake {
                suite,
                console_sid,
                managed_sid,
                rm,
                rc,
                guid,
                role,
                user,
                kuid,
                kg,
            };
            let proof = h.expected_rakp2_proof();
            prop_assert_eq!(proof.len(), rakp::rakp2_proof_len(suite));
            let sik = h.sik();
            let _ = (
                h.rakp3_proof(),
                h.expected_rakp4_icv(&sik),
                h.session_keys(&sik),
            );
            Ok(())
        },
    );
}
