use super::*;

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

/// The textbook v1 GetRequest for sysDescr.0 with community "public", request-id 1.
const V1_GET_SYSDESCR: [u8; 40] = [
    0x30, 0x26, 0x02, 0x01, 0x00, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0, 0x19, 0x02,
    0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06,
    0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00,
];

#[test]
fn v1_get_request_is_byte_exact() {
    let pdu = Pdu::request(
        PduType::Get,
        1,
        vec![(oid("1.3.6.1.2.1.1.1.0"), Value::Null)],
    );
    assert_eq!(
        encode_community(Version::V1, b"public", &pdu),
        V1_GET_SYSDESCR
    );
    let (version, community, decoded) = decode_community(&V1_GET_SYSDESCR).unwrap();
    assert_eq!((version, community.as_slice()), (0, &b"public"[..]));
    assert_eq!(decoded, pdu);
}

#[test]
fn every_value_type_round_trips() {
    let values = vec![
        Value::Integer(-5),
        Value::OctetString(b"Outlet 1".to_vec()),
        Value::Null,
        Value::ObjectId(oid(".1.3.6.1.4.1.318.1.3.4.5")),
        Value::IpAddress([127, 0, 0, 1]),
        Value::Counter32(u32::MAX),
        Value::Gauge32(1_000_000_000),
        Value::TimeTicks(12345),
        Value::Opaque(vec![1, 2, 3]),
        Value::Counter64(u64::MAX),
        Value::NoSuchObject,
        Value::NoSuchInstance,
        Value::EndOfMibView,
    ];
    let varbinds: Vec<_> = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (oid("1.3.6.1.2.1.2.2.1.2").child(i as u32), v))
        .collect();
    let pdu = Pdu {
        kind: PduType::Response,
        request_id: -77,
        error_status: 0,
        error_index: 0,
        varbinds,
    };
    let bytes = encode_community(Version::V2c, b"private", &pdu);
    let (version, _, decoded) = decode_community(&bytes).unwrap();
    assert_eq!(version, 1);
    assert_eq!(decoded, pdu);
}

#[test]
fn value_accessors() {
    assert_eq!(Value::Integer(2).as_integer(), Some(2));
    assert_eq!(Value::Gauge32(7).as_integer(), Some(7));
    assert_eq!(Value::Null.as_integer(), None);
    assert_eq!(
        Value::OctetString(b"node1\0".to_vec()).as_text().as_deref(),
        Some("node1")
    );
    assert!(Value::NoSuchInstance.is_absent());
    assert!(!Value::EndOfMibView.is_absent());
    assert_eq!(
        Value::OctetString(b"Gi1/0/1".to_vec()).to_string(),
        "\"Gi1/0/1\""
    );
    assert_eq!(error_status::name(2), "noSuchName");
    assert_eq!(error_status::name(17), "notWritable");
    assert_eq!(error_status::name(99), "unknown error");
}

#[test]
fn v3_message_round_trips_and_locates_the_digest() {
    let usm = UsmParams {
        engine_id: vec![0x80, 0, 0x1f, 0x88, 4, 1, 2, 3],
        engine_boots: 7,
        engine_time: 123_456,
        user_name: b"fenceuser".to_vec(),
        auth_params: vec![0xaa; 12],
        priv_params: vec![1, 2, 3, 4, 5, 6, 7, 8],
    };
    let scoped = ScopedPdu {
        context_engine_id: usm.engine_id.clone(),
        context_name: Vec::new(),
        pdu: Pdu::request(
            PduType::Set,
            42,
            vec![(oid("1.3.6.1.2.1.2.2.1.7.3"), Value::Integer(2))],
        ),
    };
    let plain = scoped.encode();
    let (bytes, auth_offset) = encode_v3(&V3Out {
        msg_id: 99,
        flags: FLAG_AUTH | FLAG_REPORTABLE,
        usm: &usm,
        data: &plain,
    });
    assert_eq!(&bytes[auth_offset..auth_offset + 12], &[0xaa; 12]);
    assert_eq!(peek_version(&bytes).unwrap(), 3);
    let m = decode_v3(&bytes).unwrap();
    assert_eq!(m.msg_id, 99);
    assert_eq!(m.flags, FLAG_AUTH | FLAG_REPORTABLE);
    assert_eq!(m.security_model, SECURITY_MODEL_USM);
    assert_eq!(m.usm, usm);
    assert_eq!(m.auth_offset, auth_offset);
    let V3Data::Plain(data) = m.data else {
        panic!("expected plaintext data")
    };
    assert_eq!(ScopedPdu::decode(data).unwrap(), scoped);

    // Encrypted payload: msgData is an OCTET STRING.
    let cipher = ber::octets(&[9u8; 40]);
    let (bytes, _) = encode_v3(&V3Out {
        msg_id: 100,
        flags: FLAG_AUTH | FLAG_PRIV,
        usm: &usm,
        data: &cipher,
    });
    assert_eq!(
        decode_v3(&bytes).unwrap().data,
        V3Data::Encrypted(&[9u8; 40][..])
    );
}

#[test]
fn scoped_pdu_ignores_cipher_padding() {
    let scoped = ScopedPdu {
        context_engine_id: vec![1, 2],
        context_name: Vec::new(),
        pdu: Pdu::request(PduType::Get, 1, vec![]),
    };
    let mut bytes = scoped.encode();
    bytes.extend_from_slice(&[0, 0, 0, 0, 0]);
    assert_eq!(ScopedPdu::decode(&bytes).unwrap(), scoped);
}

#[test]
fn garbage_is_an_error() {
    assert!(decode_community(&[]).is_err());
    assert!(decode_community(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    assert!(decode_v3(&V1_GET_SYSDESCR).is_err());
    let mut cut = V1_GET_SYSDESCR.to_vec();
    cut.truncate(30);
    assert!(decode_community(&cut).is_err());
    // A trap PDU (0xa4) is not something a manager accepts as an answer.
    let mut trap = V1_GET_SYSDESCR.to_vec();
    trap[13] = 0xa4;
    assert!(decode_community(&trap).is_err());
}
