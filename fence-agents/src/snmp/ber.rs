//! BER (ITU-T X.690 basic encoding rules), the subset SNMP uses: single-byte tags,
//! definite lengths, INTEGER, OCTET STRING, NULL, OBJECT IDENTIFIER and constructed
//! SEQUENCE-like elements. Encoding builds byte vectors bottom-up; decoding walks a
//! buffer with a [`Reader`] that keeps absolute offsets, so a caller can find where a
//! field sits in the whole message (the USM digest is computed over the message with
//! that field zeroed).

use std::fmt;
use std::str::FromStr;

/// Universal tags.
pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OBJECT_IDENTIFIER: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;

/// Why bytes are not acceptable BER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// The data ends inside an element.
    #[error("truncated BER element")]
    Truncated,
    /// Indefinite length, a length of more than 4 bytes, or a multi-byte tag.
    #[error("unsupported BER length or tag form")]
    Unsupported,
    /// A different element was expected here.
    #[error("expected BER tag 0x{expected:02x}, found 0x{found:02x}")]
    UnexpectedTag { expected: u8, found: u8 },
    /// An INTEGER that is empty or does not fit 64 bits.
    #[error("BER integer empty or out of range")]
    BadInteger,
    /// An OBJECT IDENTIFIER that is empty, unterminated or has an arc over 32 bits.
    #[error("malformed object identifier")]
    BadOid,
    /// Bytes left over where an element should have ended.
    #[error("unexpected bytes after BER element")]
    Trailing,
}

/// An object identifier: the arcs, compared in SNMP's lexicographic order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(Vec<u32>);

impl Oid {
    /// An OID from its arcs (at least two, the first at most 2).
    pub fn from_arcs(arcs: &[u32]) -> Result<Oid, BerError> {
        if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] >= 40) {
            return Err(BerError::BadOid);
        }
        Ok(Oid(arcs.to_vec()))
    }

    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    /// This OID with one more arc (a table column plus an index).
    pub fn child(&self, arc: u32) -> Oid {
        let mut arcs = self.0.clone();
        arcs.push(arc);
        Oid(arcs)
    }

    /// This OID with several more arcs.
    pub fn extend(&self, more: &[u32]) -> Oid {
        let mut arcs = self.0.clone();
        arcs.extend_from_slice(more);
        Oid(arcs)
    }

    /// True when `self` lies strictly under `base` in the tree.
    pub fn is_under(&self, base: &Oid) -> bool {
        self.0.len() > base.0.len() && self.0.starts_with(&base.0)
    }

    /// The arcs after `base`, when `self` lies under it (a table row's index).
    pub fn suffix(&self, base: &Oid) -> Option<&[u32]> {
        self.is_under(base).then(|| &self.0[base.0.len()..])
    }

    /// BER content octets (without tag and length).
    pub fn content(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 4);
        let first = self.0.first().copied().unwrap_or(0);
        let second = self.0.get(1).copied().unwrap_or(0);
        push_base128(&mut out, u64::from(first) * 40 + u64::from(second));
        for &arc in self.0.iter().skip(2) {
            push_base128(&mut out, u64::from(arc));
        }
        out
    }

    /// Decode BER content octets.
    pub fn from_content(bytes: &[u8]) -> Result<Oid, BerError> {
        let mut subids = Vec::with_capacity(bytes.len() + 1);
        let mut value: u64 = 0;
        let mut open = false;
        for &b in bytes {
            if !open && b == 0x80 {
                return Err(BerError::BadOid); // non-minimal encoding
            }
            value = (value << 7) | u64::from(b & 0x7f);
            if value > u64::from(u32::MAX) * 40 + 80 {
                return Err(BerError::BadOid);
            }
            open = b & 0x80 != 0;
            if !open {
                subids.push(value);
                value = 0;
            }
        }
        if open || subids.is_empty() {
            return Err(BerError::BadOid);
        }
        let first = subids[0];
        let (a, b) = match first {
            0..=39 => (0, first),
            40..=79 => (1, first - 40),
            _ => (2, first - 80),
        };
        let mut arcs = vec![a as u32, u32::try_from(b).map_err(|_| BerError::BadOid)?];
        for &s in &subids[1..] {
            arcs.push(u32::try_from(s).map_err(|_| BerError::BadOid)?);
        }
        Ok(Oid(arcs))
    }
}

impl FromStr for Oid {
    type Err = BerError;

    /// `.1.3.6.1.2.1.1.2.0` or `1.3.6.1.2.1.1.2.0`.
    fn from_str(s: &str) -> Result<Oid, BerError> {
        let s = s.trim();
        let s = s.strip_prefix('.').unwrap_or(s);
        let arcs = s
            .split('.')
            .map(|a| a.parse::<u32>().map_err(|_| BerError::BadOid))
            .collect::<Result<Vec<_>, _>>()?;
        Oid::from_arcs(&arcs)
    }
}

impl fmt::Display for Oid {
    /// Numeric form with a leading dot, as `snmpget -On` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for arc in &self.0 {
            write!(f, ".{arc}")?;
        }
        Ok(())
    }
}

fn push_base128(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    loop {
        tmp[n] = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(if i > 0 { tmp[i] | 0x80 } else { tmp[i] });
    }
}

/// Append a definite length.
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// One element: tag, length, content.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A constructed element holding already encoded parts.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// A signed integer in its shortest two's complement form.
pub fn integer(tag: u8, v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    tlv(tag, &bytes[start..])
}

/// An unsigned integer (Counter32, Gauge32, TimeTicks, Counter64).
pub fn unsigned(tag: u8, v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut content = Vec::with_capacity(9);
    if bytes[skip] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&bytes[skip..]);
    tlv(tag, &content)
}

pub fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, bytes)
}

pub fn null() -> Vec<u8> {
    vec![NULL, 0]
}

pub fn oid(oid: &Oid) -> Vec<u8> {
    tlv(OBJECT_IDENTIFIER, &oid.content())
}

/// One decoded element; `start` is the absolute offset of its content in the buffer
/// the [`Reader`] was created on.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub start: usize,
    pub content: &'a [u8],
    base: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the content of this (constructed) element.
    pub fn reader(&self) -> Reader<'a> {
        Reader {
            buf: self.base,
            pos: self.start,
            end: self.start + self.content.len(),
        }
    }

    /// The content as a signed integer.
    pub fn as_i64(&self) -> Result<i64, BerError> {
        let c = self.content;
        if c.is_empty() || c.len() > 8 {
            return Err(BerError::BadInteger);
        }
        let mut v: i64 = if c[0] & 0x80 != 0 { -1 } else { 0 };
        for &b in c {
            v = (v << 8) | i64::from(b);
        }
        Ok(v)
    }

    /// The content as an unsigned integer (one leading zero byte allowed beyond 8).
    pub fn as_u64(&self) -> Result<u64, BerError> {
        let c = match self.content {
            [0, rest @ ..] if !rest.is_empty() => rest,
            c => c,
        };
        if c.is_empty() || c.len() > 8 {
            return Err(BerError::BadInteger);
        }
        Ok(c.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }
}

/// Sequential decoding of the elements in `buf[pos..end]`.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// Absolute offset of the next element.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fail if anything is left.
    pub fn finish(&self) -> Result<(), BerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(BerError::Trailing)
        }
    }

    fn byte(&mut self) -> Result<u8, BerError> {
        if self.pos >= self.end {
            return Err(BerError::Truncated);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// The next element, whatever its tag.
    pub fn read(&mut self) -> Result<Tlv<'a>, BerError> {
        let tag = self.byte()?;
        if tag & 0x1f == 0x1f {
            return Err(BerError::Unsupported);
        }
        let first = self.byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(BerError::Unsupported);
            }
            let mut len = 0usize;
            for _ in 0..n {
                len = (len << 8) | usize::from(self.byte()?);
            }
            len
        };
        if len > self.end - self.pos {
            return Err(BerError::Truncated);
        }
        let start = self.pos;
        self.pos += len;
        Ok(Tlv {
            tag,
            start,
            content: &self.buf[start..start + len],
            base: self.buf,
        })
    }

    /// The next element, which must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, BerError> {
        let tlv = self.read()?;
        if tlv.tag != tag {
            return Err(BerError::UnexpectedTag {
                expected: tag,
                found: tlv.tag,
            });
        }
        Ok(tlv)
    }

    /// A reader over the next element's content, which must carry `tag`.
    pub fn enter(&mut self, tag: u8) -> Result<Reader<'a>, BerError> {
        Ok(self.expect(tag)?.reader())
    }

    pub fn integer(&mut self) -> Result<i64, BerError> {
        self.expect(INTEGER)?.as_i64()
    }

    pub fn octets(&mut self) -> Result<&'a [u8], BerError> {
        Ok(self.expect(OCTET_STRING)?.content)
    }

    pub fn oid(&mut self) -> Result<Oid, BerError> {
        Oid::from_content(self.expect(OBJECT_IDENTIFIER)?.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_use_the_shortest_twos_complement() {
        assert_eq!(integer(INTEGER, 0), [2, 1, 0]);
        assert_eq!(integer(INTEGER, 127), [2, 1, 0x7f]);
        assert_eq!(integer(INTEGER, 128), [2, 2, 0, 0x80]);
        assert_eq!(integer(INTEGER, 256), [2, 2, 1, 0]);
        assert_eq!(integer(INTEGER, -1), [2, 1, 0xff]);
        assert_eq!(integer(INTEGER, -128), [2, 1, 0x80]);
        assert_eq!(integer(INTEGER, -129), [2, 2, 0xff, 0x7f]);
        for v in [
            0,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            65535,
            i64::from(i32::MIN),
            i64::MAX,
        ] {
            let bytes = integer(INTEGER, v);
            assert_eq!(Reader::new(&bytes).integer().unwrap(), v, "{v}");
        }
    }

    #[test]
    fn unsigned_values_get_a_leading_zero_when_the_top_bit_is_set() {
        assert_eq!(
            unsigned(0x41, 0xffff_ffff),
            [0x41, 5, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(unsigned(0x43, 0), [0x43, 1, 0]);
        let bytes = unsigned(0x46, u64::MAX);
        let tlv = Reader::new(&bytes).read().unwrap();
        assert_eq!(tlv.as_u64().unwrap(), u64::MAX);
    }

    #[test]
    fn long_lengths_round_trip() {
        let content = vec![7u8; 300];
        let bytes = octets(&content);
        assert_eq!(&bytes[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(Reader::new(&bytes).octets().unwrap(), &content[..]);
    }

    #[test]
    fn oid_encoding_matches_x690() {
        // sysObjectID.0 = 1.3.6.1.2.1.1.2.0 -> 2b 06 01 02 01 01 02 00
        let o: Oid = ".1.3.6.1.2.1.1.2.0".parse().unwrap();
        assert_eq!(oid(&o), [6, 8, 0x2b, 6, 1, 2, 1, 1, 2, 0]);
        // arcs over 127 use base 128: 318 = 0x82 0x3e
        let apc: Oid = "1.3.6.1.4.1.318".parse().unwrap();
        assert_eq!(apc.content(), [0x2b, 6, 1, 4, 1, 0x82, 0x3e]);
        let big: Oid = "2.999.4294967295".parse().unwrap();
        assert_eq!(Oid::from_content(&big.content()).unwrap(), big);
        assert_eq!(big.to_string(), ".2.999.4294967295");
    }

    #[test]
    fn bad_oids_are_rejected() {
        assert!("".parse::<Oid>().is_err());
        assert!("1".parse::<Oid>().is_err());
        assert!("1.x.3".parse::<Oid>().is_err());
        assert!("3.1".parse::<Oid>().is_err());
        assert!(Oid::from_content(&[0x2b, 0x86]).is_err());
        assert!(Oid::from_content(&[]).is_err());
        assert!(Oid::from_content(&[0x2b, 0x80, 0x01]).is_err());
    }

    #[test]
    fn oid_order_and_suffix() {
        let base: Oid = "1.3.6.1.2.1.2.2.1.2".parse().unwrap();
        let row = base.child(10);
        assert!(row.is_under(&base));
        assert!(!base.is_under(&base));
        assert_eq!(row.suffix(&base), Some(&[10u32][..]));
        let next_column: Oid = "1.3.6.1.2.1.2.2.1.3".parse().unwrap();
        assert!(row < next_column);
        assert!(base.child(9) < base.child(10));
    }

    #[test]
    fn truncated_and_odd_input_is_an_error_not_a_panic() {
        assert_eq!(
            Reader::new(&[0x30]).read().unwrap_err(),
            BerError::Truncated
        );
        assert_eq!(
            Reader::new(&[0x30, 5, 1]).read().unwrap_err(),
            BerError::Truncated
        );
        assert_eq!(
            Reader::new(&[0x30, 0x80]).read().unwrap_err(),
            BerError::Unsupported
        );
        assert_eq!(
            Reader::new(&[0x1f, 1, 1]).read().unwrap_err(),
            BerError::Unsupported
        );
        assert_eq!(
            Reader::new(&[0x02, 0]).integer().unwrap_err(),
            BerError::BadInteger
        );
        assert!(matches!(
            Reader::new(&[0x04, 0]).integer().unwrap_err(),
            BerError::UnexpectedTag { .. }
        ));
    }

    #[test]
    fn nested_readers_keep_absolute_offsets() {
        let inner = octets(b"abc");
        let outer = constructed(SEQUENCE, &[&integer(INTEGER, 1), &inner]);
        let mut r = Reader::new(&outer);
        let mut seq = r.enter(SEQUENCE).unwrap();
        assert_eq!(seq.integer().unwrap(), 1);
        let s = seq.expect(OCTET_STRING).unwrap();
        assert_eq!(&outer[s.start..s.start + 3], b"abc");
        seq.finish().unwrap();
        r.finish().unwrap();
    }
}
