//! OpenSSH `known_hosts` files, as pure logic: parsing lines (plain, wildcard and hashed
//! `|1|salt|hash` host fields, `@revoked` and `@cert-authority` markers), deciding
//! whether a server's host key is known, changed or revoked, which key types are on file
//! for a host (so the handshake can ask for those first, as OpenSSH does), and writing
//! the line that records a newly accepted key. Reading and appending files is the
//! session's job.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// What a line says about the keys listed on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// An ordinary entry: the key is valid for the hosts.
    None,
    /// `@revoked`: the key must never be accepted.
    Revoked,
    /// `@cert-authority`: a CA key (certificates are not used here; ignored).
    CertAuthority,
}

/// The host field of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// Comma-separated patterns (`*`, `?` wildcards, `!` negation).
    Patterns(Vec<String>),
    /// `|1|<salt>|<HMAC-SHA1(salt, host)>`.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// One usable line of a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub marker: Marker,
    pub hosts: Hosts,
    /// Key type as written (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`...).
    pub key_type: String,
    /// The public key blob (base64-decoded).
    pub key: Vec<u8>,
    /// 1-based line number in its file.
    pub line: usize,
}

/// The verdict on a server's host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An entry for this host holds exactly this key.
    Known,
    /// The host is on file with a different key of the same type (line number).
    Changed { line: usize },
    /// The key is marked `@revoked` (line number).
    Revoked { line: usize },
    /// Nothing on file for this host and key type.
    Unknown,
}

/// The name a host is filed under: `host` on port 22, `[host]:port` otherwise.
pub fn host_token(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// Parse a whole file; lines that are blank, comments or not understood are skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| parse_line(line, i + 1))
        .collect()
}

/// Parse one line (`None` for blanks, comments and lines not understood).
pub fn parse_line(line: &str, number: usize) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        m if m.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let hosts = if let Some(rest) = first.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        Hosts::Hashed {
            salt: base64_decode(salt)?,
            hash: base64_decode(hash)?,
        }
    } else {
        Hosts::Patterns(first.split(',').map(str::to_ascii_lowercase).collect())
    };
    let key_type = fields.next()?.to_string();
    let key = base64_decode(fields.next()?)?;
    Some(Entry {
        marker,
        hosts,
        key_type,
        key,
        line: number,
    })
}

/// True when the entry's host field names `token` (from [`host_token`]).
pub fn matches_host(hosts: &Hosts, token: &str) -> bool {
    match hosts {
        Hosts::Hashed { salt, hash } => {
            let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.update(token.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
        Hosts::Patterns(patterns) => {
            let mut matched = false;
            for p in patterns {
                if let Some(negated) = p.strip_prefix('!') {
                    if wildcard(negated, token) {
                        return false;
                    }
                } else if wildcard(p, token) {
                    matched = true;
                }
            }
            matched
        }
    }
}

/// `*` and `?` glob match of a whole string.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The key type named inside a public key blob (its first SSH string).
pub fn blob_key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4 + len)?;
    String::from_utf8(name.to_vec()).ok()
}

/// Judge `key` (the server's public key blob) for `token` against the entries.
pub fn check(entries: &[Entry], token: &str, key: &[u8]) -> Verdict {
    let key_type = blob_key_type(key).unwrap_or_default();
    let mut changed = None;
    for e in entries.iter().filter(|e| matches_host(&e.hosts, token)) {
        match e.marker {
            Marker::Revoked if e.key == key => return Verdict::Revoked { line: e.line },
            Marker::None if e.key == key => return Verdict::Known,
            Marker::None if e.key_type == key_type && changed.is_none() => {
                changed = Some(e.line);
            }
            _ => {}
        }
    }
    match changed {
        Some(line) => Verdict::Changed { line },
        None => Verdict::Unknown,
    }
}

/// Key types on file for `token`, in file order, without repeats.
pub fn key_types_for(entries: &[Entry], token: &str) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for e in entries {
        if e.marker == Marker::None && matches_host(&e.hosts, token) && !types.contains(&e.key_type)
        {
            types.push(e.key_type.clone());
        }
    }
    types
}

/// The signature algorithms a key type can be used with (RSA keys sign with SHA-2 too).
pub fn algorithms_for_key_type(key_type: &str) -> Vec<&str> {
    match key_type {
        "ssh-rsa" => vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
        other => vec![other],
    }
}

/// The line recording `key` for `token`: plain, or hashed with `salt` (20 random
/// bytes) the way `HashKnownHosts yes` writes it.
pub fn entry_line(token: &str, key: &[u8], salt: Option<&[u8]>) -> String {
    let key_type = blob_key_type(key).unwrap_or_else(|| "unknown".into());
    let host = match salt.and_then(|s| Hmac::<Sha1>::new_from_slice(s).ok().map(|m| (s, m))) {
        Some((salt, mut mac)) => {
            mac.update(token.as_bytes());
            let hash = mac.finalize().into_bytes();
            format!("|1|{}|{}", base64_encode(salt), base64_encode(&hash))
        }
        None => token.to_string(),
    };
    format!("{host} {key_type} {}", base64_encode(key))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64 (padding optional); `None` on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up ed25519 public key blob.
    fn blob(kind: &str, fill: u8) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend(kind.as_bytes());
        b.extend(32u32.to_be_bytes());
        b.extend([fill; 32]);
        b
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len).map(|i: u8| i.wrapping_mul(37) + 1).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert_eq!(
            base64_encode(b"any carnal pleas"),
            "YW55IGNhcm5hbCBwbGVhcw=="
        );
        assert_eq!(base64_decode("YW55"), Some(b"any".to_vec()));
        assert_eq!(base64_decode("Y!55"), None);
    }

    #[test]
    fn token_has_brackets_off_port_22() {
        assert_eq!(host_token("Node1", 22), "node1");
        assert_eq!(host_token("127.0.0.1", 2222), "[127.0.0.1]:2222");
    }

    #[test]
    fn known_changed_unknown_revoked() {
        let key = blob("ssh-ed25519", 1);
        let other = blob("ssh-ed25519", 2);
        let ecdsa = blob("ecdsa-sha2-nistp256", 3);
        let text = format!(
            "# comment\n\n{}\n{}\n@revoked * {}\n",
            entry_line("[h]:2222", &key, None),
            entry_line("other", &other, None),
            base64_prefix("ssh-ed25519", &blob("ssh-ed25519", 9)),
        );
        let entries = parse(&text);
        assert_eq!(entries.len(), 3);
        assert_eq!(check(&entries, "[h]:2222", &key), Verdict::Known);
        assert_eq!(
            check(&entries, "[h]:2222", &other),
            Verdict::Changed { line: 3 }
        );
        // A different key type is not a change: the host may have several keys.
        assert_eq!(check(&entries, "[h]:2222", &ecdsa), Verdict::Unknown);
        assert_eq!(check(&entries, "h", &key), Verdict::Unknown);
        assert_eq!(
            check(&entries, "[h]:2222", &blob("ssh-ed25519", 9)),
            Verdict::Revoked { line: 5 }
        );
    }

    fn base64_prefix(kind: &str, key: &[u8]) -> String {
        format!("{kind} {}", base64_encode(key))
    }

    #[test]
    fn hashed_entries_match_only_their_host() {
        let key = blob("ssh-ed25519", 1);
        let line = entry_line("[127.0.0.1]:19600", &key, Some(&[7u8; 20]));
        assert!(line.starts_with("|1|"));
        let entries = parse(&line);
        assert_eq!(check(&entries, "[127.0.0.1]:19600", &key), Verdict::Known);
        assert_eq!(check(&entries, "[127.0.0.1]:19601", &key), Verdict::Unknown);
    }

    #[test]
    fn hashed_entry_written_by_openssh_is_recognised() {
        // `ssh-keygen -H` style: HMAC-SHA1 keyed by the salt over "[127.0.0.1]:19600".
        let salt = [0x11u8; 20];
        let mut mac = Hmac::<Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.1]:19600");
        let hash = mac.finalize().into_bytes();
        let hosts = Hosts::Hashed {
            salt: salt.to_vec(),
            hash: hash.to_vec(),
        };
        assert!(matches_host(&hosts, "[127.0.0.1]:19600"));
    }

    #[test]
    fn patterns_with_wildcards_and_negation() {
        let hosts = Hosts::Patterns(vec!["*.example.com".into(), "!bad.example.com".into()]);
        assert!(matches_host(&hosts, "node1.example.com"));
        assert!(!matches_host(&hosts, "bad.example.com"));
        assert!(!matches_host(&hosts, "example.org"));
        assert!(wildcard("10.0.0.?", "10.0.0.7"));
        assert!(!wildcard("10.0.0.?", "10.0.0.17"));
        assert!(wildcard("*", "anything"));
    }

    #[test]
    fn key_types_in_file_order() {
        let text = format!(
            "{}\n{}\n{}\n",
            entry_line("h", &blob("ecdsa-sha2-nistp256", 1), None),
            entry_line("h", &blob("ssh-ed25519", 1), None),
            entry_line("x", &blob("ssh-rsa", 1), None),
        );
        let entries = parse(&text);
        assert_eq!(
            key_types_for(&entries, "h"),
            vec!["ecdsa-sha2-nistp256", "ssh-ed25519"]
        );
        assert_eq!(algorithms_for_key_type("ssh-rsa")[0], "rsa-sha2-512");
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse("h ssh-ed25519 !!!notbase64\nonlyhost\n@weird h k AAAA\n").is_empty());
    }
}
