//! SNMP messages on the wire: values and variable bindings, the PDUs (RFC 3416), the
//! community message of v1/v2c (RFC 1157, RFC 1901) and the v3 message with its USM
//! security parameters and scoped PDU (RFC 3412, RFC 3414). Pure encoding/decoding, no
//! I/O and no cryptography (see `usm` for that).

use std::fmt;

use super::ber::{self, BerError, Oid, Reader, Tlv};

/// Application and context tags of SNMP values.
mod tag {
    pub const IP_ADDRESS: u8 = 0x40;
    pub const COUNTER32: u8 = 0x41;
    pub const GAUGE32: u8 = 0x42;
    pub const TIME_TICKS: u8 = 0x43;
    pub const OPAQUE: u8 = 0x44;
    pub const COUNTER64: u8 = 0x46;
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    pub const END_OF_MIB_VIEW: u8 = 0x82;
}

/// One value of a variable binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i64),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
    /// v2c/v3 exception: no such object type.
    NoSuchObject,
    /// v2c/v3 exception: the object type exists, this instance does not.
    NoSuchInstance,
    /// v2c/v3 exception: nothing follows in the agent's view.
    EndOfMibView,
}

impl Value {
    /// True for the v2 exceptions noSuchObject / noSuchInstance.
    pub fn is_absent(&self) -> bool {
        matches!(self, Value::NoSuchObject | Value::NoSuchInstance)
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(v) => Some(*v),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => Some(i64::from(*v)),
            _ => None,
        }
    }

    /// Text of an OCTET STRING (lossy UTF-8, trailing NULs dropped as some devices pad).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::OctetString(b) => Some(
                String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .to_string(),
            ),
            _ => None,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Value::Integer(v) => ber::integer(ber::INTEGER, *v),
            Value::OctetString(b) => ber::octets(b),
            Value::Null => ber::null(),
            Value::ObjectId(o) => ber::oid(o),
            Value::IpAddress(a) => ber::tlv(tag::IP_ADDRESS, a),
            Value::Counter32(v) => ber::unsigned(tag::COUNTER32, u64::from(*v)),
            Value::Gauge32(v) => ber::unsigned(tag::GAUGE32, u64::from(*v)),
            Value::TimeTicks(v) => ber::unsigned(tag::TIME_TICKS, u64::from(*v)),
            Value::Opaque(b) => ber::tlv(tag::OPAQUE, b),
            Value::Counter64(v) => ber::unsigned(tag::COUNTER64, *v),
            Value::NoSuchObject => vec![tag::NO_SUCH_OBJECT, 0],
            Value::NoSuchInstance => vec![tag::NO_SUCH_INSTANCE, 0],
            Value::EndOfMibView => vec![tag::END_OF_MIB_VIEW, 0],
        }
    }

    fn decode(t: &Tlv<'_>) -> Result<Value, BerError> {
        let u32_of = |t: &Tlv<'_>| {
            t.as_u64()
                .and_then(|v| u32::try_from(v).map_err(|_| BerError::BadInteger))
        };
        Ok(match t.tag {
            ber::INTEGER => Value::Integer(t.as_i64()?),
            ber::OCTET_STRING => Value::OctetString(t.content.to_vec()),
            ber::NULL => Value::Null,
            ber::OBJECT_IDENTIFIER => Value::ObjectId(Oid::from_content(t.content)?),
            tag::IP_ADDRESS => {
                Value::IpAddress(t.content.try_into().map_err(|_| BerError::Unsupported)?)
            }
            tag::COUNTER32 => Value::Counter32(u32_of(t)?),
            tag::GAUGE32 => Value::Gauge32(u32_of(t)?),
            tag::TIME_TICKS => Value::TimeTicks(u32_of(t)?),
            tag::OPAQUE => Value::Opaque(t.content.to_vec()),
            tag::COUNTER64 => Value::Counter64(t.as_u64()?),
            tag::NO_SUCH_OBJECT => Value::NoSuchObject,
            tag::NO_SUCH_INSTANCE => Value::NoSuchInstance,
            tag::END_OF_MIB_VIEW => Value::EndOfMibView,
            other => {
                return Err(BerError::UnexpectedTag {
                    expected: ber::NULL,
                    found: other,
                })
            }
        })
    }
}

impl fmt::Display for Value {
    /// Roughly as `snmpget -Oeqn` prints values (for logs and messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(v) => write!(f, "{v}"),
            Value::OctetString(_) => write!(f, "{:?}", self.as_text().unwrap_or_default()),
            Value::Null => write!(f, "NULL"),
            Value::ObjectId(o) => write!(f, "{o}"),
            Value::IpAddress(a) => write!(f, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => write!(f, "{v}"),
            Value::Opaque(b) => write!(f, "Opaque({} bytes)", b.len()),
            Value::Counter64(v) => write!(f, "{v}"),
            Value::NoSuchObject => write!(f, "No Such Object available on this agent at this OID"),
            Value::NoSuchInstance => write!(f, "No Such Instance currently exists at this OID"),
            Value::EndOfMibView => write!(f, "No more variables left in this MIB View"),
        }
    }
}

/// The PDU types a manager sends or receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduType {
    Get = 0xa0,
    GetNext = 0xa1,
    Response = 0xa2,
    Set = 0xa3,
    GetBulk = 0xa5,
    Report = 0xa8,
}

impl PduType {
    fn from_tag(tag: u8) -> Option<PduType> {
        Some(match tag {
            0xa0 => PduType::Get,
            0xa1 => PduType::GetNext,
            0xa2 => PduType::Response,
            0xa3 => PduType::Set,
            0xa5 => PduType::GetBulk,
            0xa8 => PduType::Report,
            _ => return None,
        })
    }
}

/// error-status values of RFC 3416 (v1 uses 0-5).
pub mod error_status {
    pub const NO_ERROR: i64 = 0;
    pub const TOO_BIG: i64 = 1;
    pub const NO_SUCH_NAME: i64 = 2;
    pub const READ_ONLY: i64 = 4;
    pub const NO_ACCESS: i64 = 6;
    pub const NO_CREATION: i64 = 11;
    pub const AUTHORIZATION_ERROR: i64 = 16;
    pub const NOT_WRITABLE: i64 = 17;

    /// The RFC name of an error-status.
    pub fn name(status: i64) -> &'static str {
        const NAMES: [&str; 19] = [
            "noError",
            "tooBig",
            "noSuchName",
            "badValue",
            "readOnly",
            "genErr",
            "noAccess",
            "wrongType",
            "wrongLength",
            "wrongEncoding",
            "wrongValue",
            "noCreation",
            "inconsistentValue",
            "resourceUnavailable",
            "commitFailed",
            "undoFailed",
            "authorizationError",
            "notWritable",
            "inconsistentName",
        ];
        usize::try_from(status)
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or("unknown error")
    }
}

/// One PDU. For GetBulk, `error_status` is non-repeaters and `error_index`
/// max-repetitions, as the RFC overlays them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub kind: PduType,
    pub request_id: i32,
    pub error_status: i64,
    pub error_index: i64,
    pub varbinds: Vec<(Oid, Value)>,
}

impl Pdu {
    /// A request with no error fields.
    pub fn request(kind: PduType, request_id: i32, varbinds: Vec<(Oid, Value)>) -> Pdu {
        Pdu {
            kind,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let list: Vec<u8> = self
            .varbinds
            .iter()
            .flat_map(|(o, v)| ber::constructed(ber::SEQUENCE, &[&ber::oid(o), &v.encode()]))
            .collect();
        ber::constructed(
            self.kind as u8,
            &[
                &ber::integer(ber::INTEGER, i64::from(self.request_id)),
                &ber::integer(ber::INTEGER, self.error_status),
                &ber::integer(ber::INTEGER, self.error_index),
                &ber::tlv(ber::SEQUENCE, &list),
            ],
        )
    }

    /// Decode the next element of `r` as a PDU.
    pub fn decode(r: &mut Reader<'_>) -> Result<Pdu, BerError> {
        let t = r.read()?;
        let kind = PduType::from_tag(t.tag).ok_or(BerError::UnexpectedTag {
            expected: PduType::Response as u8,
            found: t.tag,
        })?;
        let mut body = t.reader();
        let request_id = i32::try_from(body.integer()?).map_err(|_| BerError::BadInteger)?;
        let error_status = body.integer()?;
        let error_index = body.integer()?;
        let mut list = body.enter(ber::SEQUENCE)?;
        body.finish()?;
        let mut varbinds = Vec::new();
        while !list.is_empty() {
            let mut vb = list.enter(ber::SEQUENCE)?;
            let oid = vb.oid()?;
            let value = Value::decode(&vb.read()?)?;
            vb.finish()?;
            varbinds.push((oid, value));
        }
        Ok(Pdu {
            kind,
            request_id,
            error_status,
            error_index,
            varbinds,
        })
    }
}

/// Protocol versions (their wire numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1 = 0,
    V2c = 1,
    V3 = 3,
}

/// A v1 or v2c message: version, community, PDU.
pub fn encode_community(version: Version, community: &[u8], pdu: &Pdu) -> Vec<u8> {
    ber::constructed(
        ber::SEQUENCE,
        &[
            &ber::integer(ber::INTEGER, version as i64),
            &ber::octets(community),
            &pdu.encode(),
        ],
    )
}

/// Decode a v1/v2c message: (wire version, community, PDU).
pub fn decode_community(bytes: &[u8]) -> Result<(i64, Vec<u8>, Pdu), BerError> {
    let mut outer = Reader::new(bytes);
    let mut msg = outer.enter(ber::SEQUENCE)?;
    let version = msg.integer()?;
    let community = msg.octets()?.to_vec();
    let pdu = Pdu::decode(&mut msg)?;
    msg.finish()?;
    Ok((version, community, pdu))
}

/// msgFlags bits.
pub const FLAG_AUTH: u8 = 0x01;
pub const FLAG_PRIV: u8 = 0x02;
pub const FLAG_REPORTABLE: u8 = 0x04;
/// msgSecurityModel of the User-based Security Model.
pub const SECURITY_MODEL_USM: i64 = 3;
/// The largest message we accept (msgMaxSize).
pub const MAX_MESSAGE_SIZE: i64 = 65507;

/// UsmSecurityParameters (RFC 3414 section 2.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsmParams {
    pub engine_id: Vec<u8>,
    pub engine_boots: u32,
    pub engine_time: u32,
    pub user_name: Vec<u8>,
    pub auth_params: Vec<u8>,
    pub priv_params: Vec<u8>,
}

/// A v3 message to send: header fields, USM parameters and the msgData element
/// (a plaintext ScopedPDU, or an OCTET STRING holding the encrypted one), already encoded.
pub struct V3Out<'a> {
    pub msg_id: i32,
    pub flags: u8,
    pub usm: &'a UsmParams,
    pub data: &'a [u8],
}

/// Encode a v3 message; also returns the absolute offset of msgAuthenticationParameters'
/// content, where the digest goes.
pub fn encode_v3(m: &V3Out<'_>) -> (Vec<u8>, usize) {
    let version = ber::integer(ber::INTEGER, 3);
    let header = ber::constructed(
        ber::SEQUENCE,
        &[
            &ber::integer(ber::INTEGER, i64::from(m.msg_id)),
            &ber::integer(ber::INTEGER, MAX_MESSAGE_SIZE),
            &ber::octets(&[m.flags]),
            &ber::integer(ber::INTEGER, SECURITY_MODEL_USM),
        ],
    );
    let u = m.usm;
    let head_of_usm = [
        ber::octets(&u.engine_id),
        ber::integer(ber::INTEGER, i64::from(u.engine_boots)),
        ber::integer(ber::INTEGER, i64::from(u.engine_time)),
        ber::octets(&u.user_name),
    ]
    .concat();
    let auth = ber::octets(&u.auth_params);
    let usm_seq = ber::constructed(
        ber::SEQUENCE,
        &[&head_of_usm, &auth, &ber::octets(&u.priv_params)],
    );
    let security = ber::octets(&usm_seq);
    let message = ber::constructed(ber::SEQUENCE, &[&version, &header, &security, m.data]);
    // Offsets from the end are stable: everything after the auth parameters is known.
    let after_auth_content = ber::octets(&u.priv_params).len() + m.data.len();
    let auth_offset = message.len() - after_auth_content - u.auth_params.len();
    (message, auth_offset)
}

/// msgData of a received v3 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V3Data<'a> {
    /// A plaintext ScopedPDU element (tag and all).
    Plain(&'a [u8]),
    /// The encryptedPDU octets.
    Encrypted(&'a [u8]),
}

/// A received v3 message, decoded down to its USM parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3In<'a> {
    pub msg_id: i32,
    pub flags: u8,
    pub security_model: i64,
    pub usm: UsmParams,
    /// Absolute offset of msgAuthenticationParameters' content in the message.
    pub auth_offset: usize,
    pub data: V3Data<'a>,
}

/// The wire version of a message (to tell v3 from v1/v2c before decoding further).
pub fn peek_version(bytes: &[u8]) -> Result<i64, BerError> {
    Reader::new(bytes).enter(ber::SEQUENCE)?.integer()
}

pub fn decode_v3(bytes: &[u8]) -> Result<V3In<'_>, BerError> {
    let mut outer = Reader::new(bytes);
    let mut msg = outer.enter(ber::SEQUENCE)?;
    if msg.integer()? != 3 {
        return Err(BerError::Unsupported);
    }
    let mut header = msg.enter(ber::SEQUENCE)?;
    let msg_id = i32::try_from(header.integer()?).map_err(|_| BerError::BadInteger)?;
    let _max_size = header.integer()?;
    let flags = *header.octets()?.first().ok_or(BerError::Truncated)?;
    let security_model = header.integer()?;
    let security = msg.expect(ber::OCTET_STRING)?;
    let mut usm_r = security.reader().enter(ber::SEQUENCE)?;
    let engine_id = usm_r.octets()?.to_vec();
    let boots = u32::try_from(usm_r.integer()?).map_err(|_| BerError::BadInteger)?;
    let time = u32::try_from(usm_r.integer()?).map_err(|_| BerError::BadInteger)?;
    let user_name = usm_r.octets()?.to_vec();
    let auth = usm_r.expect(ber::OCTET_STRING)?;
    let priv_params = usm_r.octets()?.to_vec();
    let data_begin = msg.position();
    let data_tlv = msg.read()?;
    msg.finish()?;
    let data = match data_tlv.tag {
        ber::OCTET_STRING => V3Data::Encrypted(data_tlv.content),
        // The whole element, tag and length included: what a ScopedPdu decoder reads.
        ber::SEQUENCE => V3Data::Plain(&bytes[data_begin..data_tlv.start + data_tlv.content.len()]),
        found => {
            return Err(BerError::UnexpectedTag {
                expected: ber::SEQUENCE,
                found,
            })
        }
    };
    Ok(V3In {
        msg_id,
        flags,
        security_model,
        usm: UsmParams {
            engine_id,
            engine_boots: boots,
            engine_time: time,
            user_name,
            auth_params: auth.content.to_vec(),
            priv_params,
        },
        auth_offset: auth.start,
        data,
    })
}

/// ScopedPDU (RFC 3412): context engine ID, context name, PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedPdu {
    pub context_engine_id: Vec<u8>,
    pub context_name: Vec<u8>,
    pub pdu: Pdu,
}

impl ScopedPdu {
    pub fn encode(&self) -> Vec<u8> {
        ber::constructed(
            ber::SEQUENCE,
            &[
                &ber::octets(&self.context_engine_id),
                &ber::octets(&self.context_name),
                &self.pdu.encode(),
            ],
        )
    }

    /// Decode the first element of `bytes`; anything after it (cipher padding) is ignored.
    pub fn decode(bytes: &[u8]) -> Result<ScopedPdu, BerError> {
        let mut r = Reader::new(bytes).enter(ber::SEQUENCE)?;
        let context_engine_id = r.octets()?.to_vec();
        let context_name = r.octets()?.to_vec();
        let pdu = Pdu::decode(&mut r)?;
        r.finish()?;
        Ok(ScopedPdu {
            context_engine_id,
            context_name,
            pdu,
        })
    }
}

#[cfg(test)]
mod tests;
