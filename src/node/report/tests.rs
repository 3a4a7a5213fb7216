//! The report datagram: round trips, authentication, limits, garbage.

use super::*;

const KEY: &[u8] = b"0123456789abcdef-cluster-key";

fn report() -> Report {
    let running = |name: &str, role, status| Running {
        name: name.into(),
        role,
        status,
    };
    Report {
        cluster: 7,
        from: 2,
        incarnation: 5,
        seq: 11,
        running: vec![
            running("db", Role::Promoted, RunStatus::Running),
            running("web-ip", Role::Started, RunStatus::StopFailed),
            running("state", Role::Started, RunStatus::Promoting),
        ],
        fenced: vec![
            FenceRecord {
                node: 1,
                incarnation: 1_700_000_000_000_000,
                age_ms: Some(2500),
            },
            FenceRecord {
                node: 3,
                incarnation: 0,
                age_ms: None,
            },
        ],
        failcounts: vec![Failcount {
            resource: "web-ip".into(),
            count: 3,
            age_ms: 1500,
        }],
        admin: vec![Record {
            key: "standby/node3".into(),
            value: "on".into(),
            version: 4,
            origin: 1,
        }],
        grants: vec![
            Grant {
                promote: false,
                confirmed: false,
                resource: "web".into(),
                node: 3,
            },
            Grant {
                promote: true,
                confirmed: true,
                resource: "db-clone".into(),
                node: 2,
            },
        ],
        attributes: vec![("master-db".into(), "10".into())],
        leaving: false,
    }
}

#[test]
fn version_one_is_refused_and_unknown_codes_are_errors() {
    let mut b = encode(&report(), KEY);
    b[4] = 1;
    assert_eq!(decode(&b, KEY, 7), Err(ReportError::Version(1)));
    // an unknown status byte, correctly signed
    let mut r = report();
    r.running.truncate(1);
    let b = encode(&r, KEY);
    let mut body = b[..b.len() - MAC_LEN].to_vec();
    // header (32) + 1 length + "db" + role byte -> status byte
    body[HEADER + 1 + 2 + 1] = 9;
    let mut m = mac(KEY);
    m.update(&body);
    body.extend_from_slice(&m.finalize().into_bytes());
    assert_eq!(decode(&body, KEY, 7), Err(ReportError::Field));
}

#[test]
fn version_three_is_read_with_fences_of_no_age() {
    // A version 3 report: no resources, one fence (node 4, incarnation 77) without an
    // age, then empty failcounts, admin records, grants and attributes.
    let mut body = Vec::from(&MAGIC[..]);
    body.extend_from_slice(&[3, 0]);
    body.extend_from_slice(&7u32.to_be_bytes());
    body.extend_from_slice(&2u32.to_be_bytes());
    body.extend_from_slice(&5u64.to_be_bytes());
    body.extend_from_slice(&1u64.to_be_bytes());
    body.extend_from_slice(&0u16.to_be_bytes());
    body.extend_from_slice(&1u16.to_be_bytes());
    body.extend_from_slice(&4u32.to_be_bytes());
    body.extend_from_slice(&77u64.to_be_bytes());
    for _ in 0..4 {
        body.extend_from_slice(&0u16.to_be_bytes());
    }
    let mut m = mac(KEY);
    m.update(&body);
    body.extend_from_slice(&m.finalize().into_bytes());
    let r = decode(&body, KEY, 7).expect("a version 3 report");
    assert_eq!(
        r.fenced,
        vec![FenceRecord {
            node: 4,
            incarnation: 77,
            age_ms: None
        }]
    );
    body[4] = 6;
    assert_eq!(decode(&body, KEY, 7), Err(ReportError::Version(6)));
}

#[test]
fn content_comparison_ignores_sequence_and_ages() {
    let a = report();
    let mut b = report();
    b.seq += 5;
    b.failcounts[0].age_ms += 900;
    b.fenced[0].age_ms = Some(9000);
    assert!(a.same_content(&b));
    b.failcounts[0].count += 1;
    assert!(!a.same_content(&b));
    let mut c = report();
    c.attributes[0].1 = "5".into();
    assert!(!a.same_content(&c), "a promotion score is content");
    assert_eq!(a.names(), vec!["db", "web-ip", "state"]);
}

#[test]
fn round_trip_and_empty() {
    let b = encode(&report(), KEY);
    assert!(is_report(&b));
    assert_eq!(decode(&b, KEY, 7), Ok(report()));
    let empty = Report {
        cluster: 7,
        from: 1,
        ..Report::default()
    };
    assert_eq!(decode(&encode(&empty, KEY), KEY, 7), Ok(empty));
}

#[test]
fn leaving_is_a_version_5_flag_and_nothing_in_version_4() {
    // Without a flag the report is a version 4 one (what older peers read).
    let b = encode(&report(), KEY);
    assert_eq!((b[4], b[5]), (4, 0));
    let leaving = Report {
        cluster: 7,
        from: 2,
        incarnation: 5,
        seq: 12,
        leaving: true,
        ..Report::default()
    };
    let b = encode(&leaving, KEY);
    assert_eq!((b[4], b[5]), (5, 1));
    assert_eq!(decode(&b, KEY, 7), Ok(leaving.clone()));
    // The same bit in a version 4 report (correctly signed) means nothing.
    let mut body = b[..b.len() - MAC_LEN].to_vec();
    body[4] = 4;
    let mut m = mac(KEY);
    m.update(&body);
    body.extend_from_slice(&m.finalize().into_bytes());
    let back = decode(&body, KEY, 7).expect("a version 4 report");
    assert!(!back.leaving);
    // A version 6 report is refused.
    let mut body = b[..b.len() - MAC_LEN].to_vec();
    body[4] = 6;
    let mut m = mac(KEY);
    m.update(&body);
    body.extend_from_slice(&m.finalize().into_bytes());
    assert_eq!(decode(&body, KEY, 7), Err(ReportError::Version(6)));
    assert!(!leaving.same_content(&Report {
        leaving: false,
        ..leaving.clone()
    }));
}

#[test]
fn every_flipped_bit_is_rejected() {
    let b = encode(&report(), KEY);
    for i in 0..b.len() * 8 {
        let mut c = b.clone();
        c[i / 8] ^= 1 << (i % 8);
        assert!(decode(&c, KEY, 7).is_err(), "bit {i} flip accepted");
    }
}

#[test]
fn wrong_key_cluster_truncation_and_heartbeats() {
    let b = encode(&report(), KEY);
    assert_eq!(
        decode(&b, b"another-key-of-16-bytes", 7),
        Err(ReportError::BadMac)
    );
    assert_eq!(decode(&b, KEY, 8), Err(ReportError::OtherCluster(7)));
    assert_eq!(decode(&b[..20], KEY, 7), Err(ReportError::TooShort(20)));
    // a heartbeat is not a report, whatever its key
    let hb = crate::cluster::packet::encode(
        &crate::cluster::packet::Packet {
            cluster: 7,
            from: 2,
            incarnation: 1,
            seq: 1,
            quorate: true,
            members: vec![1, 2],
            challenges: Vec::new(),
            echoes: Vec::new(),
        },
        &crate::cluster::packet::Key::new(KEY).expect("key"),
    );
    assert!(!is_report(&hb));
    assert_eq!(decode(&hb, KEY, 7), Err(ReportError::BadMagic));
}

#[test]
fn a_huge_admin_table_still_fits_one_datagram() {
    let mut r = report();
    r.admin = (0..MAX_ENTRIES)
        .map(|i| Record {
            key: format!("{i:03}{}", "k".repeat(252)),
            value: "v".repeat(255),
            version: i as u64,
            origin: 1,
        })
        .collect();
    let b = encode(&r, KEY);
    assert!(b.len() <= MAX_DATAGRAM, "{} bytes", b.len());
    let back = decode(&b, KEY, 7).expect("decodes");
    assert!(!back.admin.is_empty() && back.admin.len() < MAX_ENTRIES);
    assert_eq!(back.admin[..], r.admin[..back.admin.len()]);
}

#[test]
fn signed_garbage_bodies_are_length_errors_not_panics() {
    // Authentic (correct MAC) but inconsistent bodies: counts that run past the end.
    for body_len in 0..40usize {
        let mut body = Vec::from(&MAGIC[..]);
        body.push(VERSION);
        body.push(0);
        body.extend_from_slice(&7u32.to_be_bytes());
        body.resize(body.len() + body_len, 0xff);
        let mut m = mac(KEY);
        m.update(&body);
        body.extend_from_slice(&m.finalize().into_bytes());
        let _ = decode(&body, KEY, 7);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in 0..200 {
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if len >= 4 {
            bytes[..4].copy_from_slice(MAGIC);
        }
        let _ = decode(&bytes, KEY, 7);
    }
}
