//! heartbeat's `authkeys`, pure: `auth ID` names the key in use; `ID crc`, `ID md5 KEY`
//! or `ID sha1 KEY` lines list keys (several ids allow rotation). crc authenticates
//! nothing and md5 / sha1 are weak, so palisade never uses them on the wire: the active
//! secret is turned into HMAC-SHA256 key material (HMAC-SHA256 of `METHOD:SECRET` under a
//! fixed import label), with a warning. The file must be mode 600, as heartbeat demands.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{ImportError, Warnings};

/// Label keying the derivation, so an imported key is never the raw heartbeat secret.
const DERIVATION_LABEL: &[u8] = b"palisade: key imported from heartbeat authkeys, v1";

/// A signing method of heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// CRC: integrity against noise only, no secret.
    Crc,
    /// HMAC-MD5.
    Md5,
    /// HMAC-SHA1.
    Sha1,
}

impl Method {
    fn word(self) -> &'static str {
        match self {
            Method::Crc => "crc",
            Method::Md5 => "md5",
            Method::Sha1 => "sha1",
        }
    }
}

/// One key line.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// Its id (1-15).
    pub id: u8,
    /// Its method.
    pub method: Method,
    /// The secret (empty for crc).
    pub secret: String,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyEntry({} {}, [hidden])", self.id, self.method.word())
    }
}

/// A parsed authkeys file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthKeys {
    /// The id named by `auth`.
    pub active: u8,
    /// Every key line.
    pub keys: Vec<KeyEntry>,
}

/// Key material for palisade's HMAC-SHA256 (32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial(pub [u8; 32]);

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial([hidden])")
    }
}

impl KeyMaterial {
    /// Lowercase hex, for a key file.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn err(line: usize, reason: impl Into<String>) -> ImportError {
    ImportError::Authkeys {
        line,
        reason: reason.into(),
    }
}

fn key_id(line: usize, text: &str) -> Result<u8, ImportError> {
    match text.parse::<u8>() {
        Ok(id) if (1..=15).contains(&id) => Ok(id),
        _ => Err(err(line, format!("key id '{text}' must be 1-15"))),
    }
}

/// Parse authkeys text. `mode` is the file's permission bits, if known.
pub fn parse(
    text: &str,
    mode: Option<u32>,
    warnings: &mut Warnings,
) -> Result<AuthKeys, ImportError> {
    if let Some(mode) = mode {
        if mode & 0o077 != 0 {
            warnings.push(format!(
                "authkeys is mode {:03o}: heartbeat refuses it unless only the owner can read it (600); treat the secret as exposed",
                mode & 0o777
            ));
        }
    }
    let mut active: Option<(u8, usize)> = None;
    let mut keys: Vec<KeyEntry> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        let mut words = content.splitn(3, char::is_whitespace);
        let Some(first) = words.next().filter(|w| !w.is_empty()) else {
            continue;
        };
        let second = words.next().map(str::trim).unwrap_or("");
        let rest = words.next().map(str::trim).unwrap_or("");
        if first == "auth" {
            if active.is_some() {
                return Err(err(line, "a second 'auth' line"));
            }
            if second.is_empty() || !rest.is_empty() {
                return Err(err(line, "expected 'auth ID'"));
            }
            active = Some((key_id(line, second)?, line));
            continue;
        }
        let id = key_id(line, first)?;
        if keys.iter().any(|k| k.id == id) {
            return Err(err(line, format!("key id {id} listed twice")));
        }
        let method = match second.to_ascii_lowercase().as_str() {
            "crc" => Method::Crc,
            "md5" => Method::Md5,
            "sha1" => Method::Sha1,
            "" => {
                return Err(err(
                    line,
                    format!("key {id} has no method (crc, md5 or sha1)"),
                ))
            }
            other => {
                return Err(err(
                    line,
                    format!("unknown method '{other}' (crc, md5 or sha1)"),
                ))
            }
        };
        match (method, rest.is_empty()) {
            (Method::Crc, false) => warnings.push(format!(
                "authkeys line {line}: crc takes no key; the key is ignored"
            )),
            (Method::Md5 | Method::Sha1, true) => {
                return Err(err(line, format!("{} needs a key", method.word())))
            }
            _ => {}
        }
        keys.push(KeyEntry {
            id,
            method,
            secret: if method == Method::Crc {
                String::new()
            } else {
                rest.to_string()
            },
        });
    }
    let Some((active, line)) = active else {
        return Err(err(0, "no 'auth ID' line naming the key in use"));
    };
    if !keys.iter().any(|k| k.id == active) {
        return Err(err(
            line,
            format!("'auth {active}' names a key that is not listed"),
        ));
    }
    Ok(AuthKeys { active, keys })
}

impl AuthKeys {
    /// The key in use.
    pub fn active_key(&self) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.id == self.active)
    }

    /// HMAC-SHA256 key material from the active secret, with the warnings an admin
    /// must read; none for crc (there is no secret to derive from).
    pub fn derive(&self, warnings: &mut Warnings) -> Option<KeyMaterial> {
        for k in self.keys.iter().filter(|k| k.id != self.active) {
            warnings.push(format!(
                "authkeys key {} ({}) is not the active one and is not imported",
                k.id,
                k.method.word()
            ));
        }
        let key = self.active_key()?;
        match key.method {
            Method::Crc => {
                warnings.push(
                    "authkeys uses crc, which authenticates nothing: no key imported; create one with 32 random bytes (head -c 32 /dev/urandom)".into(),
                );
                return None;
            }
            Method::Md5 | Method::Sha1 => warnings.push(format!(
                "authkeys uses {}, a weak method: palisade authenticates with HMAC-SHA256 under a key derived from this secret (heartbeat nodes cannot talk to palisade nodes)",
                key.method.word()
            )),
        }
        if key.secret.len() < 16 {
            warnings.push(format!(
                "the authkeys secret is only {} characters: consider a fresh random key",
                key.secret.len()
            ));
        }
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(DERIVATION_LABEL) else {
            return None;
        };
        mac.update(key.method.word().as_bytes());
        mac.update(b":");
        mac.update(key.secret.as_bytes());
        Some(KeyMaterial(mac.finalize().into_bytes().into()))
    }
}
