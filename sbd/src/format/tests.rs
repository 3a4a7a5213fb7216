//! Unit tests of the on-disk format against sectors written by the real sbd 1.5.2.

use super::*;

const REAL_SECTORS: &str = include_str!("../../tests/fixtures/sbd-1.5.2-sectors.txt");
const SECTOR: usize = 512;

/// Sector `index` of the captured device, expanded to 512 bytes.
fn real_sector(index: u64) -> Vec<u8> {
    for line in REAL_SECTORS.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let Some(idx) = parts.next() else { continue };
        if idx.parse::<u64>().ok() != Some(index) {
            continue;
        }
        let mut sector = hex(parts.next().unwrap_or(""));
        sector.resize(SECTOR, 0);
        return sector;
    }
    panic!("sector {index} is not in the fixture");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

/// `sector` with our integrity field zeroed: what ClusterLabs sbd would have written.
fn unsealed(mut sector: Vec<u8>) -> Vec<u8> {
    sector[CHECK_OFFSET..CHECK_END].fill(0);
    sector
}

fn name(s: &str) -> NodeName {
    NodeName::parse(s).expect("valid name")
}

#[test]
fn header_from_real_sbd_decodes_to_its_dump_values() {
    let header = Header::decode(&real_sector(0)).expect("valid header");
    assert_eq!(header.version_string(), "2.1");
    assert_eq!(header.slots, 255);
    assert_eq!(header.sector_size, 512);
    assert_eq!(
        header.timeouts,
        DiskTimeouts {
            watchdog: 5,
            allocate: 2,
            loop_timeout: 1,
            msgwait: 10
        }
    );
    assert_eq!(
        header.uuid_string().as_deref(),
        Some("ad1fe671-11f7-4275-803d-119a5e2a093b")
    );
    header.check_sector_size(512).expect("same sector size");
    assert_eq!(header.area_sectors(), 511);
}

#[test]
fn header_encodes_byte_exact_like_real_sbd() {
    let real = real_sector(0);
    let header = Header::decode(&real).expect("valid header");
    // Byte for byte what sbd wrote, plus our integrity field in bytes sbd leaves zero.
    let ours = header.encode(SECTOR).expect("encode");
    assert_eq!(unsealed(ours.clone()), real);
    assert_eq!(&ours[CHECK_OFFSET..CHECK_OFFSET + 4], b"pcH\x01");
    assert_eq!(Header::decode(&ours), Ok(header));
    let rebuilt = Header::new(512, DiskTimeouts::default(), header.uuid);
    assert_eq!(rebuilt.encode(SECTOR).expect("encode"), ours);
}

#[test]
fn header_of_the_annotated_hexdump_decodes() {
    // The first 0x31 bytes of the header in reference/sbd/HEXDUMP.md (another device).
    let mut sector = hex(concat!(
        "5342445f5342445f02ff000000000200",
        "000000050000000200000001 0000000a",
        "018fc518d04419490aa0082bafca7c62",
        "fc"
    )
    .replace(' ', "")
    .as_str());
    sector.resize(SECTOR, 0);
    let header = Header::decode(&sector).expect("valid header");
    assert_eq!(
        header.uuid_string().as_deref(),
        Some("8fc518d0-4419-490a-a008-2bafca7c62fc")
    );
    assert_eq!(header.timeouts.msgwait, 10);
}

#[test]
fn big_endian_fields_are_at_their_offsets() {
    let timeouts = DiskTimeouts {
        watchdog: 0x0102_0304,
        allocate: 7,
        loop_timeout: 0x00ab_cdef,
        msgwait: 600,
    };
    let sector = Header::new(4096, timeouts, [0x11; 16])
        .encode(4096)
        .expect("encode");
    assert_eq!(sector.len(), 4096);
    assert_eq!(&sector[0..8], b"SBD_SBD_");
    assert_eq!(sector[8..12], [2, 255, 0, 0]);
    assert_eq!(sector[12..16], [0, 0, 0x10, 0]);
    assert_eq!(sector[16..20], [1, 2, 3, 4]);
    assert_eq!(sector[20..24], [0, 0, 0, 7]);
    assert_eq!(sector[24..28], [0, 0xab, 0xcd, 0xef]);
    assert_eq!(sector[28..32], [0, 0, 0x02, 0x58]);
    assert_eq!(sector[32], 1);
    assert_eq!(sector[33..49], [0x11; 16]);
    assert!(sector[49..CHECK_OFFSET].iter().all(|&b| b == 0));
    assert!(sector[CHECK_END..].iter().all(|&b| b == 0));
    let back = Header::decode(&sector).expect("decode");
    assert_eq!(back.timeouts, timeouts);
    assert_eq!(back.sector_size, 4096);
}

#[test]
fn invalid_headers_are_told_apart() {
    assert_eq!(
        Header::decode(&[0u8; SECTOR]),
        Err(FormatError::NotInitialized)
    );
    let mut junk = real_sector(0);
    junk[..8].copy_from_slice(b"EXT4FSxx");
    assert!(matches!(
        Header::decode(&junk),
        Err(FormatError::BadMagic { found }) if found == "EXT4FSxx"
    ));
    let mut v3 = real_sector(0);
    v3[8] = 3;
    assert_eq!(
        Header::decode(&v3),
        Err(FormatError::VersionMismatch { major: 3, minor: 1 })
    );
    assert_eq!(
        Header::decode(&[0u8; 20]),
        Err(FormatError::SectorTooShort { len: 20, need: 52 })
    );
    let header = Header::decode(&real_sector(0)).expect("valid");
    assert_eq!(
        header.check_sector_size(4096),
        Err(FormatError::SectorSizeMismatch {
            header: 512,
            device: 4096
        })
    );
    let message = FormatError::BadMagic {
        found: "EXT4FSxx".into(),
    }
    .to_string();
    assert!(message.contains("not an sbd device"), "{message}");
}

#[test]
fn minor_version_zero_hides_the_uuid() {
    let mut sector = real_sector(0);
    sector[32] = 0;
    let header = Header::decode(&sector).expect("minor 0 is accepted");
    assert_eq!(header.version_string(), "2.0");
    assert_eq!(header.uuid_string(), None);
}

#[test]
fn slot_and_mailbox_sectors_match_real_sbd() {
    let slot0 = SlotEntry::decode(&real_sector(1)).expect("slot");
    assert_eq!(slot0, SlotEntry::allocated(name("node1")));
    assert_eq!(
        unsealed(slot0.encode(SECTOR).expect("encode")),
        real_sector(1)
    );

    let mailbox0 = Mailbox::decode(&real_sector(2)).expect("mailbox");
    assert_eq!(mailbox0.command, MailboxCommand::Reset);
    assert_eq!(mailbox0.sender.to_string(), "node2");
    assert_eq!(
        unsealed(mailbox0.encode(SECTOR).expect("encode")),
        real_sector(2)
    );

    let slot1 = SlotEntry::decode(&real_sector(3)).expect("slot");
    assert!(slot1.belongs_to(&name("NODE2")));
    assert_eq!(
        unsealed(slot1.encode(SECTOR).expect("encode")),
        real_sector(3)
    );

    assert_eq!(
        Mailbox::decode(&real_sector(4)).expect("mailbox"),
        Mailbox::default()
    );
    let free = SlotEntry::decode(&real_sector(5)).expect("slot");
    assert!(free.is_free() && !free.is_listed());
    assert_eq!(
        unsealed(SlotEntry::default().encode(SECTOR).expect("encode")),
        real_sector(5)
    );
}

#[test]
fn in_use_byte_is_a_signed_char_for_listing() {
    let odd = SlotEntry {
        in_use: 0x80,
        name: name("x"),
    };
    assert!(!odd.is_free());
    assert!(!odd.is_listed());
    assert!(SlotEntry {
        in_use: 7,
        name: name("x")
    }
    .is_listed());
}

#[test]
fn names_are_bounded_and_case_insensitive() {
    assert_eq!(NodeName::parse(""), Err(NameError::Empty));
    assert!(NodeName::parse(&"a".repeat(63)).is_ok());
    assert!(matches!(
        NodeName::parse(&"a".repeat(64)),
        Err(NameError::TooLong { len: 64, .. })
    ));
    assert!(matches!(
        NodeName::parse("a\0b"),
        Err(NameError::ContainsNul { .. })
    ));
    assert_eq!(name("Node1"), name("nODE1"));
    assert_ne!(name("node1"), name("node10"));

    // A full field without terminator keeps 63 significant bytes.
    let field = [b'z'; NAME_FIELD_LEN];
    assert_eq!(NodeName::from_field(&field).as_bytes().len(), 63);
    let entry = SlotEntry::allocated(name(&"q".repeat(63)))
        .encode(SECTOR)
        .expect("encode");
    assert_eq!(entry[63], b'q');
    assert_eq!(entry[64], 0, "byte 64 stays the terminator");
}

#[test]
fn command_bytes_round_trip() {
    for word in ["clear", "test", "reset", "off", "exit", "crashdump"] {
        let command = parse_command(word).expect("known word");
        assert_eq!(command.as_str(), word);
        assert_eq!(MailboxCommand::from_byte(command_byte(command)), command);
    }
    assert_eq!(command_byte(MailboxCommand::Crashdump), 5);
    assert_eq!(command_byte(MailboxCommand::Exit), 4);
    assert_eq!(parse_command("poweroff"), None);
    let mut sector = vec![0u8; SECTOR];
    sector[0] = 0xfe; // -2 as a signed char
    let mailbox = Mailbox::decode(&sector).expect("decode");
    assert_eq!(mailbox.command.as_str(), "undefined");
    assert_eq!(unsealed(mailbox.encode(SECTOR).expect("encode")), sector);
}

#[test]
fn layout_places_slots_and_mailboxes() {
    assert_eq!(slot_sector(0), 1);
    assert_eq!(mailbox_sector(0), 2);
    assert_eq!(slot_sector(1), 3);
    assert_eq!(mailbox_sector(254), 510);
    assert_eq!(area_sectors(255), 511);
}

#[test]
fn uuid_v4_sets_version_and_variant() {
    let uuid = uuid_v4_from_random([0xff; 16]);
    let text = format_uuid(&uuid);
    assert_eq!(text, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    assert_eq!(
        format_uuid(&uuid_v4_from_random([0; 16])).as_bytes()[14],
        b'4'
    );
}

#[test]
fn too_short_sectors_are_errors_not_panics() {
    assert!(SlotEntry::decode(&[1, 2, 3]).is_err());
    assert!(Mailbox::decode(&[]).is_err());
    assert!(SlotEntry::default().encode(10).is_err());
    assert!(Header::new(512, DiskTimeouts::default(), [0; 16])
        .encode(51)
        .is_err());
    // Too short for the integrity field: we never write such a sector.
    assert_eq!(
        Mailbox::default().encode(CHECK_END - 1),
        Err(FormatError::SectorTooShort {
            len: CHECK_END - 1,
            need: CHECK_END
        })
    );
    assert!(Mailbox::decode(&[0u8; MIN_SECTOR_LEN]).is_ok());
}

#[test]
fn sealed_sectors_verify_and_clusterlabs_sectors_pass_unchecked() {
    let header = Header::new(512, DiskTimeouts::default(), [7; 16]);
    let slot = SlotEntry::allocated(name("node1"));
    let mailbox = Mailbox {
        command: MailboxCommand::Reset,
        sender: name("node2"),
    };
    for size in [512, 4096] {
        let sealed = header.encode(size).expect("encode");
        assert_eq!(
            check::verify(&sealed, SectorKind::Header),
            Ok(Integrity::Verified)
        );
        let sealed = slot.encode(size).expect("encode");
        assert_eq!(
            check::verify(&sealed, SectorKind::Slot),
            Ok(Integrity::Verified)
        );
        let sealed = mailbox.encode(size).expect("encode");
        assert_eq!(
            check::verify(&sealed, SectorKind::Mailbox),
            Ok(Integrity::Verified)
        );
    }
    for (index, kind) in [
        (0, SectorKind::Header),
        (1, SectorKind::Slot),
        (2, SectorKind::Mailbox),
        (4, SectorKind::Mailbox),
    ] {
        assert_eq!(
            check::verify(&real_sector(index), kind),
            Ok(Integrity::Unchecked),
            "sector {index} written by sbd 1.5.2"
        );
    }
    // A watcher's cleared (all-zero) mailbox is fine too.
    assert_eq!(Mailbox::decode(&[0u8; SECTOR]), Ok(Mailbox::default()));
    // So is one a ClusterLabs watcher cleared in place: message zeroed, our field kept.
    let mut cleared = mailbox.encode(SECTOR).expect("encode");
    cleared[..MIN_SECTOR_LEN].fill(0);
    assert_eq!(
        check::verify(&cleared, SectorKind::Mailbox),
        Ok(Integrity::Unchecked)
    );
    assert_eq!(Mailbox::decode(&cleared), Ok(Mailbox::default()));
}

#[test]
fn a_flipped_bit_anywhere_in_the_covered_bytes_is_refused() {
    let header = Header::new(512, DiskTimeouts::default(), [0x5a; 16])
        .encode(SECTOR)
        .expect("encode");
    for byte in (8..HEADER_LEN).chain(CHECK_OFFSET + 4..CHECK_END) {
        let mut torn = header.clone();
        torn[byte] ^= 0x10;
        assert!(
            matches!(
                Header::decode(&torn),
                Err(FormatError::ChecksumMismatch {
                    kind: SectorKind::Header,
                    ..
                })
            ),
            "byte {byte}: {:?}",
            Header::decode(&torn)
        );
    }
    let mailbox = Mailbox {
        command: MailboxCommand::Test,
        sender: name("node2"),
    }
    .encode(SECTOR)
    .expect("encode");
    for byte in 0..MIN_SECTOR_LEN {
        let mut torn = mailbox.clone();
        torn[byte] ^= 0x01;
        assert!(
            matches!(
                Mailbox::decode(&torn),
                Err(FormatError::ChecksumMismatch { .. })
            ),
            "byte {byte}"
        );
    }
    // Bytes outside the covered ones and the field are not sbd's either: ignored.
    let mut padded = mailbox.clone();
    padded[400] = 0xff;
    assert!(Mailbox::decode(&padded).is_ok());
    // A torn write that kept the old half of a sector: new command, old CRC.
    let mut half = mailbox;
    half[0] = command_byte(MailboxCommand::Reset);
    let message = Mailbox::decode(&half).expect_err("torn").to_string();
    assert!(
        message.contains("mailbox sector fails its checksum"),
        "{message}"
    );
    assert!(message.contains("torn or corrupted"), "{message}");
}

#[test]
fn a_sector_sealed_as_another_kind_or_with_garbage_is_refused() {
    let slot = SlotEntry::allocated(name("node1"))
        .encode(SECTOR)
        .expect("encode");
    assert_eq!(
        Mailbox::decode(&slot),
        Err(FormatError::ForeignCheckField {
            kind: SectorKind::Mailbox,
            found: Some(SectorKind::Slot)
        })
    );
    let mut garbage = real_sector(1);
    garbage[CHECK_OFFSET..CHECK_END].copy_from_slice(&[0xab; CHECK_LEN]);
    let error = SlotEntry::decode(&garbage).expect_err("garbage field");
    assert_eq!(
        error,
        FormatError::ForeignCheckField {
            kind: SectorKind::Slot,
            found: None
        }
    );
    assert!(error.to_string().contains("corrupted integrity field"));
}

#[test]
fn a_corrupted_header_is_told_apart_from_a_foreign_device() {
    // Garbage without our magic is still "not an sbd device", not a checksum error.
    let mut foreign = vec![0x42u8; SECTOR];
    foreign[..8].copy_from_slice(b"XFSB\0\0\0\0");
    assert!(matches!(
        Header::decode(&foreign),
        Err(FormatError::BadMagic { .. })
    ));
    // Our header with a changed timeout: refused (sbd would believe the new value).
    let mut sector = Header::new(512, DiskTimeouts::default(), [1; 16])
        .encode(SECTOR)
        .expect("encode");
    sector[31] = 1; // msgwait 10 -> 1
    let error = Header::decode(&sector).expect_err("corrupted");
    assert!(
        error
            .to_string()
            .starts_with("header sector fails its checksum"),
        "{error}"
    );
}
