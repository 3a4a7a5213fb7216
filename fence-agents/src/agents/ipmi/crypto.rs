//! The cryptography of IPMI LAN sessions, as plain functions over bytes: the HMACs of
//! RAKP and of RMCP+ packet integrity, AES-CBC-128 payload encryption, the IPMI 1.5
//! MD5 auth code, random numbers and constant-time comparison.
//!
//! The primitives come from the RustCrypto crates; nothing here does I/O except
//! [`random_bytes`], which reads the kernel's random source.

use std::io::Read;

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

/// The hash under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Md5,
    Sha256,
}

/// HMAC of the concatenated `parts` under `key`, full length (20, 16 or 32 bytes).
pub(crate) fn hmac(hash: Hash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => hmac_with::<Hmac<sha1::Sha1>>(key, parts),
        Hash::Md5 => hmac_with::<Hmac<Md5>>(key, parts),
        Hash::Sha256 => hmac_with::<Hmac<sha2::Sha256>>(key, parts),
    }
}

fn hmac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail; an empty result would only
    // make the caller's comparison fail, never accept anything.
    let Ok(mut mac) = <M as Mac>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Encrypt `buf` in place with AES-128 in CBC mode; `buf.len()` must be a multiple of 16.
pub(crate) fn aes_cbc_encrypt(key: &[u8; 16], iv: &[u8; 16], buf: &mut [u8]) -> bool {
    let len = buf.len();
    len & 15 == 0
        && cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into())
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .is_ok()
}

/// Decrypt `buf` in place with AES-128 in CBC mode; `buf.len()` must be a multiple of 16.
pub(crate) fn aes_cbc_decrypt(key: &[u8; 16], iv: &[u8; 16], buf: &mut [u8]) -> bool {
    buf.len() & 15 == 0
        && cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into())
            .decrypt_padded_mut::<NoPadding>(buf)
            .is_ok()
}

/// IPMI 1.5 MD5 auth code: MD5(password | session id | message | sequence | password),
/// the password zero-padded to 16 bytes, numbers little-endian.
pub(crate) fn v15_md5_auth_code(
    password: &[u8; 16],
    session_id: u32,
    sequence: u32,
    message: &[u8],
) -> [u8; 16] {
    Md5::new()
        .chain_update(password)
        .chain_update(session_id.to_le_bytes())
        .chain_update(message)
        .chain_update(sequence.to_le_bytes())
        .chain_update(password)
        .finalize()
        .into()
}

/// Equality that takes the same time wherever the first difference is.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `N` bytes from the kernel's random source (session ids, RAKP nonces, AES IVs).
pub(crate) fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmacs_match_rfc_2202_and_4231_vectors() {
        // RFC 2202 test case 2 (SHA-1 and MD5), RFC 4231 test case 2 (SHA-256).
        let data: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        assert_eq!(
            hex(&hmac(Hash::Sha1, b"Jefe", data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex(&hmac(Hash::Md5, b"Jefe", data)),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex(&hmac(Hash::Sha256, b"Jefe", data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn aes_cbc_matches_nist_sp800_38a_and_round_trips() {
        // NIST SP 800-38A F.2.1, first block.
        let key: [u8; 16] = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8);
        let mut block: [u8; 16] = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a,
        ];
        let plain = block;
        assert!(aes_cbc_encrypt(&key, &iv, &mut block));
        assert_eq!(hex(&block), "7649abac8119b246cee98e9b12e9197d");
        assert!(aes_cbc_decrypt(&key, &iv, &mut block));
        assert_eq!(block, plain);
        assert!(!aes_cbc_encrypt(&key, &iv, &mut [0u8; 15]));
    }

    #[test]
    fn v15_md5_auth_code_is_md5_over_the_spec_layout() {
        let mut password = [0u8; 16];
        password[..6].copy_from_slice(b"secret");
        let mut manual = Vec::new();
        manual.extend_from_slice(&password);
        manual.extend_from_slice(&0x0102_0304u32.to_le_bytes());
        manual.extend_from_slice(b"msg");
        manual.extend_from_slice(&7u32.to_le_bytes());
        manual.extend_from_slice(&password);
        let expected: [u8; 16] = Md5::digest(&manual).into();
        assert_eq!(
            v15_md5_auth_code(&password, 0x0102_0304, 7, b"msg"),
            expected
        );
    }

    #[test]
    fn same_bytes_compares_length_and_content() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"ab"));
        assert_ne!(
            random_bytes::<16>().expect("urandom"),
            random_bytes::<16>().expect("urandom")
        );
    }
}
