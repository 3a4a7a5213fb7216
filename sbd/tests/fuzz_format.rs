//! Property tests (fuzzing on stable Rust, issue #16): every sector decoder of the sbd disk
//! format gets random sectors and mutated valid ones. Invariants: no panic, a bounded
//! allocation, and either a value that re-encodes or an error with a message.
//! `PROPTEST_CASES` raises the case count (`bench/fuzz.sh`).

use proptest::prelude::*;
use sbd::format::{self, DiskTimeouts, Header, Mailbox, NodeName, SectorKind, SlotEntry};
use sbd::inquisitor::MailboxCommand;
use testkit::fuzz::{self, check};

#[global_allocator]
static ALLOC: testkit::alloc::Tracking = testkit::alloc::Tracking;

const CASES: u32 = 256;

fn sector_len() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![512usize, 1024, 4096])
}

fn name() -> impl Strategy<Value = NodeName> {
    "[a-z0-9.-]{1,63}".prop_filter_map("valid name", |s| NodeName::parse(&s).ok())
}

fn header_sector() -> impl Strategy<Value = Vec<u8>> {
    (sector_len(), any::<[u8; 16]>(), 1u32..200, 1u32..200).prop_filter_map(
        "encodable header",
        |(len, uuid, watchdog, msgwait)| {
            let timeouts = DiskTimeouts {
                watchdog,
                msgwait,
                ..DiskTimeouts::default()
            };
            Header::new(len as u32, timeouts, format::uuid_v4_from_random(uuid))
                .encode(len)
                .ok()
        },
    )
}

fn slot_sector() -> impl Strategy<Value = Vec<u8>> {
    (sector_len(), any::<u8>(), name()).prop_filter_map("encodable slot", |(len, in_use, name)| {
        SlotEntry { in_use, name }.encode(len).ok()
    })
}

fn mailbox_sector() -> impl Strategy<Value = Vec<u8>> {
    (sector_len(), any::<u8>(), name()).prop_filter_map(
        "encodable mailbox",
        |(len, byte, sender)| {
            let command = MailboxCommand::from_byte(byte);
            Mailbox { command, sender }.encode(len).ok()
        },
    )
}

/// Random bytes, short sectors included, and mutated valid sectors of `valid`.
fn inputs(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => fuzz::bytes(600),
        4 => fuzz::mutated(valid, 8),
    ]
}

/// The decoder's outcome, checked: an error has a message; the allocation is bounded.
fn decoded<T, E: std::fmt::Display>(
    input: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<Option<T>, TestCaseError> {
    let (out, largest) = testkit::alloc::largest_during(|| decode(input));
    prop_assert!(
        largest <= fuzz::memory_bound(input.len(), 4),
        "allocated {largest} bytes for {} input bytes",
        input.len()
    );
    match out {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            prop_assert!(
                !e.to_string().trim().is_empty(),
                "an error without a message"
            );
            Ok(None)
        }
    }
}

#[test]
fn header_decode_never_panics() {
    check("sbd::Header::decode", CASES, inputs(header_sector()), |s| {
        if let Some(h) = decoded(&s, Header::decode)? {
            // A decoded header re-encodes, or refuses with an error (never a panic).
            let _ = h.encode(s.len().max(format::CHECK_END));
            let _ = h.check_sector_size(s.len());
            let _ = (h.version_string(), h.uuid_string(), h.area_sectors());
        }
        Ok(())
    });
}

#[test]
fn slot_decode_never_panics_and_round_trips() {
    check(
        "sbd::SlotEntry::decode",
        CASES,
        inputs(slot_sector()),
        |s| {
            if let Some(slot) = decoded(&s, SlotEntry::decode)? {
                let _ = slot.name.to_string();
                if s.len() >= format::CHECK_END {
                    let again = slot.encode(s.len());
                    prop_assert!(again.is_ok(), "{again:?}");
                }
            }
            Ok(())
        },
    );
}

#[test]
fn mailbox_decode_never_panics() {
    check(
        "sbd::Mailbox::decode",
        CASES,
        inputs(mailbox_sector()),
        |s| {
            if let Some(m) = decoded(&s, Mailbox::decode)? {
                let _ = (m.sender.to_string(), format::command_byte(m.command));
            }
            Ok(())
        },
    );
}

#[test]
fn integrity_verify_never_panics() {
    let any_sector = prop_oneof![header_sector(), slot_sector(), mailbox_sector()];
    let kind = prop::sample::select(vec![
        SectorKind::Header,
        SectorKind::Slot,
        SectorKind::Mailbox,
    ]);
    check(
        "sbd::format::check::verify",
        CASES,
        (inputs(any_sector), kind),
        |(s, kind)| {
            decoded(&s, |s| format::check::verify(s, kind))?;
            Ok(())
        },
    );
}

#[test]
fn names_and_command_words_never_panic() {
    check(
        "sbd::NodeName::parse",
        CASES,
        (".{0,80}", fuzz::bytes(80)),
        |(text, field)| {
            if let Ok(n) = NodeName::parse(&text) {
                prop_assert!(n.as_bytes().len() <= format::NAME_MAX_LEN);
            }
            let n = NodeName::from_field(&field);
            let _ = (n.to_string(), format::escape_bytes(&field));
            let _ = format::parse_command(&text);
            Ok(())
        },
    );
}
