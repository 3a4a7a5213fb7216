//! The User-based Security Model's cryptography (RFC 3414, RFC 3826): turning a
//! passphrase into a key localised to one SNMP engine, the HMAC-MD5-96 / HMAC-SHA-96
//! message digests, and the DES-CBC / AES-CFB-128 privacy ciphers. Pure functions over
//! bytes; the session decides when to use them.

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Digest;

/// Length of the truncated digest in msgAuthenticationParameters.
pub const DIGEST_LEN: usize = 12;
/// net-snmp refuses shorter passphrases (RFC 3414 section 11.2 recommends at least 8).
pub const MIN_PASSPHRASE_LEN: usize = 8;

/// Authentication protocol (`--snmp-auth-prot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProtocol {
    Md5,
    Sha1,
}

/// Privacy protocol (`--snmp-priv-prot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProtocol {
    Des,
    Aes128,
}

/// Why a privacy operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsmError {
    /// The key is too short for the cipher (never with MD5/SHA keys).
    #[error("localised key too short for the privacy protocol")]
    ShortKey,
    /// msgPrivacyParameters is not the 8-byte salt.
    #[error("privacy parameters are {0} bytes, not 8")]
    BadSalt(usize),
    /// DES ciphertext that is not whole blocks.
    #[error("encrypted PDU of {0} bytes is not a multiple of the DES block size")]
    BadCiphertextLength(usize),
}

fn expand_and_hash<D: Digest>(password: &[u8]) -> Vec<u8> {
    // RFC 3414 A.2.1: hash 1 MiB made of the password repeated.
    let mut hasher = D::new();
    if password.is_empty() {
        return hasher.finalize().to_vec();
    }
    let mut block = [0u8; 64];
    let mut index = 0usize;
    for _ in 0..(1_048_576 / 64) {
        for b in block.iter_mut() {
            *b = password[index % password.len()];
            index += 1;
        }
        hasher.update(block);
    }
    hasher.finalize().to_vec()
}

fn localise<D: Digest>(ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
    let mut hasher = D::new();
    hasher.update(ku);
    hasher.update(engine_id);
    hasher.update(ku);
    hasher.finalize().to_vec()
}

/// Ku: the key made from a passphrase (RFC 3414 A.2).
pub fn password_to_key(auth: AuthProtocol, password: &[u8]) -> Vec<u8> {
    match auth {
        AuthProtocol::Md5 => expand_and_hash::<md5::Md5>(password),
        AuthProtocol::Sha1 => expand_and_hash::<sha1::Sha1>(password),
    }
}

/// Kul: Ku localised to one authoritative engine, `H(Ku || engineID || Ku)`.
pub fn localise_key(auth: AuthProtocol, ku: &[u8], engine_id: &[u8]) -> Vec<u8> {
    match auth {
        AuthProtocol::Md5 => localise::<md5::Md5>(ku, engine_id),
        AuthProtocol::Sha1 => localise::<sha1::Sha1>(ku, engine_id),
    }
}

/// The truncated HMAC of a whole message (its digest field zeroed by the caller).
pub fn digest(auth: AuthProtocol, key: &[u8], message: &[u8]) -> [u8; DIGEST_LEN] {
    fn run<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> [u8; DIGEST_LEN] {
        let mut out = [0u8; DIGEST_LEN];
        // HMAC takes keys of any length: the Err arm cannot happen.
        if let Ok(mut mac) = <M as Mac>::new_from_slice(key) {
            mac.update(message);
            let full = mac.finalize().into_bytes();
            out.copy_from_slice(&full[..DIGEST_LEN]);
        }
        out
    }
    match auth {
        AuthProtocol::Md5 => run::<Hmac<md5::Md5>>(key, message),
        AuthProtocol::Sha1 => run::<Hmac<sha1::Sha1>>(key, message),
    }
}

/// True when `received` is the digest of `message` (compared in constant time).
pub fn verify(auth: AuthProtocol, key: &[u8], message: &[u8], received: &[u8]) -> bool {
    let expected = digest(auth, key, message);
    received.len() == DIGEST_LEN
        && expected
            .iter()
            .zip(received)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// What identifies one encryption: the engine's boots and time, and our 64-bit salt
/// counter value. Returns (ciphertext, msgPrivacyParameters).
pub fn encrypt(
    privacy: PrivProtocol,
    key: &[u8],
    engine_boots: u32,
    engine_time: u32,
    salt: u64,
    plaintext: &[u8],
) -> Result<(Vec<u8>, [u8; 8]), UsmError> {
    match privacy {
        PrivProtocol::Des => {
            // RFC 3414 8.1.1.1: salt = boots || local counter; IV = pre-IV xor salt.
            let salt_bytes = ((u64::from(engine_boots) << 32) | (salt & 0xffff_ffff)).to_be_bytes();
            let (cipher, pre_iv) = des_key(key)?;
            let mut iv = [0u8; 8];
            for i in 0..8 {
                iv[i] = pre_iv[i] ^ salt_bytes[i];
            }
            let mut data = plaintext.to_vec();
            data.resize(plaintext.len().div_ceil(8) * 8, 0);
            let mut prev = iv;
            for chunk in data.chunks_mut(8) {
                for (b, p) in chunk.iter_mut().zip(prev) {
                    *b ^= p;
                }
                cipher.encrypt_block(des::cipher::generic_array::GenericArray::from_mut_slice(
                    chunk,
                ));
                prev.copy_from_slice(chunk);
            }
            Ok((data, salt_bytes))
        }
        PrivProtocol::Aes128 => {
            let salt_bytes = salt.to_be_bytes();
            let mut data = plaintext.to_vec();
            aes_cfb(
                key,
                &aes_iv(engine_boots, engine_time, &salt_bytes),
                &mut data,
                true,
            )?;
            Ok((data, salt_bytes))
        }
    }
}

/// Decrypt an encryptedPDU with the boots/time/salt of the message that carried it.
pub fn decrypt(
    privacy: PrivProtocol,
    key: &[u8],
    engine_boots: u32,
    engine_time: u32,
    priv_params: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, UsmError> {
    let salt: [u8; 8] = priv_params
        .try_into()
        .map_err(|_| UsmError::BadSalt(priv_params.len()))?;
    match privacy {
        PrivProtocol::Des => {
            if !ciphertext.len().is_multiple_of(8) {
                return Err(UsmError::BadCiphertextLength(ciphertext.len()));
            }
            let (cipher, pre_iv) = des_key(key)?;
            let mut prev = [0u8; 8];
            for i in 0..8 {
                prev[i] = pre_iv[i] ^ salt[i];
            }
            let mut data = ciphertext.to_vec();
            for chunk in data.chunks_mut(8) {
                let mut this = [0u8; 8];
                this.copy_from_slice(chunk);
                cipher.decrypt_block(des::cipher::generic_array::GenericArray::from_mut_slice(
                    chunk,
                ));
                for (b, p) in chunk.iter_mut().zip(prev) {
                    *b ^= p;
                }
                prev = this;
            }
            Ok(data)
        }
        PrivProtocol::Aes128 => {
            let mut data = ciphertext.to_vec();
            aes_cfb(
                key,
                &aes_iv(engine_boots, engine_time, &salt),
                &mut data,
                false,
            )?;
            Ok(data)
        }
    }
}

fn des_key(key: &[u8]) -> Result<(des::Des, [u8; 8]), UsmError> {
    if key.len() < 16 {
        return Err(UsmError::ShortKey);
    }
    let cipher = des::Des::new_from_slice(&key[..8]).map_err(|_| UsmError::ShortKey)?;
    let mut pre_iv = [0u8; 8];
    pre_iv.copy_from_slice(&key[8..16]);
    Ok((cipher, pre_iv))
}

/// RFC 3826 3.1.2.1: IV = engineBoots || engineTime || salt.
fn aes_iv(boots: u32, time: u32, salt: &[u8; 8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    iv
}

/// AES-128 in 128-bit cipher feedback mode, in place.
fn aes_cfb(key: &[u8], iv: &[u8; 16], data: &mut [u8], encrypting: bool) -> Result<(), UsmError> {
    if key.len() < 16 {
        return Err(UsmError::ShortKey);
    }
    let cipher = aes::Aes128::new_from_slice(&key[..16]).map_err(|_| UsmError::ShortKey)?;
    let mut feedback = aes::Block::clone_from_slice(iv);
    for chunk in data.chunks_mut(16) {
        let mut stream = feedback;
        cipher.encrypt_block(&mut stream);
        let mut next = [0u8; 16];
        for (i, b) in chunk.iter_mut().enumerate() {
            let c = if encrypting { *b ^ stream[i] } else { *b };
            *b ^= stream[i];
            next[i] = c;
        }
        feedback = aes::Block::clone_from_slice(&next);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
