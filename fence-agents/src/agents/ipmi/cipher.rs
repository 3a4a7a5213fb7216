//! RMCP+ cipher suites this device speaks: the suite number (`--cipher`) mapped to its
//! authentication, integrity and confidentiality algorithms (IPMI v2.0 table 22-20).
//!
//! Suites built on xRC4 or on the non-HMAC MD5-128 integrity algorithm are not spoken;
//! asking for one is an error before any packet is sent.

use super::crypto::Hash;

/// Authentication (RAKP) algorithm number in the Open Session request.
pub(crate) const AUTH_RAKP_NONE: u8 = 0x00;
pub(crate) const AUTH_RAKP_HMAC_SHA1: u8 = 0x01;
pub(crate) const AUTH_RAKP_HMAC_MD5: u8 = 0x02;
pub(crate) const AUTH_RAKP_HMAC_SHA256: u8 = 0x03;

/// Integrity algorithm numbers.
pub(crate) const INTEGRITY_NONE: u8 = 0x00;
pub(crate) const INTEGRITY_HMAC_SHA1_96: u8 = 0x01;
pub(crate) const INTEGRITY_HMAC_MD5_128: u8 = 0x02;
pub(crate) const INTEGRITY_HMAC_SHA256_128: u8 = 0x04;

/// Confidentiality algorithm numbers.
pub(crate) const CONFIDENTIALITY_NONE: u8 = 0x00;
pub(crate) const CONFIDENTIALITY_AES_CBC_128: u8 = 0x01;

/// Cipher suites tried, in order, when the caller names none: 3 is what every BMC of
/// the last fifteen years offers; 17 for BMCs that have dropped SHA-1.
pub(crate) const DEFAULT_SUITES: [u8; 2] = [3, 17];

/// The suite numbers [`CipherSuite::by_id`] knows.
pub const SUPPORTED_CIPHER_SUITES: [u8; 10] = [0, 1, 2, 3, 6, 7, 8, 15, 16, 17];

/// One RMCP+ cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CipherSuite {
    /// The suite number (`ipmitool -C`).
    pub id: u8,
    /// Hash of the RAKP exchange (and of SIK, K1, K2); `None` = RAKP-none.
    pub auth: Option<Hash>,
    /// Hash of the per-packet integrity HMAC and its truncated length; `None` = no integrity.
    pub integrity: Option<(Hash, usize)>,
    /// AES-CBC-128 payload encryption.
    pub aes: bool,
}

impl CipherSuite {
    /// The suite with this number, if this device speaks it.
    pub(crate) fn by_id(id: u8) -> Option<CipherSuite> {
        let (auth, integrity, aes) = match id {
            0 => (None, None, false),
            1 => (Some(Hash::Sha1), None, false),
            2 => (Some(Hash::Sha1), Some((Hash::Sha1, 12)), false),
            3 => (Some(Hash::Sha1), Some((Hash::Sha1, 12)), true),
            6 => (Some(Hash::Md5), None, false),
            7 => (Some(Hash::Md5), Some((Hash::Md5, 16)), false),
            8 => (Some(Hash::Md5), Some((Hash::Md5, 16)), true),
            15 => (Some(Hash::Sha256), None, false),
            16 => (Some(Hash::Sha256), Some((Hash::Sha256, 16)), false),
            17 => (Some(Hash::Sha256), Some((Hash::Sha256, 16)), true),
            _ => return None,
        };
        Some(CipherSuite {
            id,
            auth,
            integrity,
            aes,
        })
    }

    /// Authentication algorithm number for the Open Session request.
    pub(crate) fn auth_number(self) -> u8 {
        match self.auth {
            None => AUTH_RAKP_NONE,
            Some(Hash::Sha1) => AUTH_RAKP_HMAC_SHA1,
            Some(Hash::Md5) => AUTH_RAKP_HMAC_MD5,
            Some(Hash::Sha256) => AUTH_RAKP_HMAC_SHA256,
        }
    }

    /// Integrity algorithm number for the Open Session request.
    pub(crate) fn integrity_number(self) -> u8 {
        match self.integrity {
            None => INTEGRITY_NONE,
            Some((Hash::Sha1, _)) => INTEGRITY_HMAC_SHA1_96,
            Some((Hash::Md5, _)) => INTEGRITY_HMAC_MD5_128,
            Some((Hash::Sha256, _)) => INTEGRITY_HMAC_SHA256_128,
        }
    }

    /// Confidentiality algorithm number for the Open Session request.
    pub(crate) fn confidentiality_number(self) -> u8 {
        if self.aes {
            CONFIDENTIALITY_AES_CBC_128
        } else {
            CONFIDENTIALITY_NONE
        }
    }

    /// Length of the RAKP 4 integrity check value: the auth HMAC truncated to 12 bytes
    /// (SHA-1) or 16 (MD5, SHA-256); none for RAKP-none.
    pub(crate) fn rakp4_icv_len(self) -> usize {
        match self.auth {
            None => 0,
            Some(Hash::Sha1) => 12,
            Some(Hash::Md5) | Some(Hash::Sha256) => 16,
        }
    }

    /// The text of [`crate::DeviceError::Unsupported`] when the BMC turns this suite down.
    pub(crate) fn not_offered(self) -> &'static str {
        match self.id {
            0 => "cipher suite 0 (not offered by the BMC)",
            1 => "cipher suite 1 (not offered by the BMC)",
            2 => "cipher suite 2 (not offered by the BMC)",
            3 => "cipher suite 3 (not offered by the BMC)",
            6 => "cipher suite 6 (not offered by the BMC)",
            7 => "cipher suite 7 (not offered by the BMC)",
            8 => "cipher suite 8 (not offered by the BMC)",
            15 => "cipher suite 15 (not offered by the BMC)",
            16 => "cipher suite 16 (not offered by the BMC)",
            17 => "cipher suite 17 (not offered by the BMC)",
            _ => "the requested cipher suite (not offered by the BMC)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_suite_resolves_and_others_do_not() {
        for id in 0..=u8::MAX {
            assert_eq!(
                CipherSuite::by_id(id).is_some(),
                SUPPORTED_CIPHER_SUITES.contains(&id),
                "suite {id}"
            );
        }
    }

    #[test]
    fn suite_3_and_17_carry_the_spec_algorithm_numbers() {
        let s3 = CipherSuite::by_id(3).expect("suite 3");
        assert_eq!(
            (
                s3.auth_number(),
                s3.integrity_number(),
                s3.confidentiality_number()
            ),
            (1, 1, 1)
        );
        assert_eq!(s3.rakp4_icv_len(), 12);
        let s17 = CipherSuite::by_id(17).expect("suite 17");
        assert_eq!(
            (
                s17.auth_number(),
                s17.integrity_number(),
                s17.confidentiality_number()
            ),
            (3, 4, 1)
        );
        assert_eq!(s17.rakp4_icv_len(), 16);
        assert!(s17.not_offered().starts_with("cipher suite 17 "));
    }
}
