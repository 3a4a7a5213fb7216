//! Printable text from bytes read off a disk (node names, senders, a foreign magic).
//!
//! Whatever is in a name field reaches terminals, logs and the fence agents' parsers, so
//! it is never printed raw: a slot name holding `ESC [ 2 J` must not clear the screen of
//! whoever runs `list`, and a tab or newline must not add a column or a line to output
//! that scripts split. [`escape_bytes`] keeps printable UTF-8 as it is and writes
//! everything else as `\xNN`, one escape per byte:
//!
//! * control characters (C0, DEL and the C1 range U+0080..U+009F),
//! * the Unicode bidirectional controls (U+200E, U+200F, U+202A..U+202E,
//!   U+2066..U+2069), which reorder what a terminal shows,
//! * bytes that are not valid UTF-8;
//!
//! and a backslash as `\\`, so the output is unambiguous (a name that literally holds
//! the four characters `\x1b` prints as `\\x1b`). Host names (letters, digits, `-`,
//! `.`, `_`) print unchanged, so `list` stays byte-identical to ClusterLabs sbd's for
//! every name a cluster really uses.

use std::fmt::{self, Write};

/// `bytes` as printable text (see the module documentation).
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    // Writing into a String cannot fail.
    let _ = write_escaped(&mut out, bytes);
    out
}

/// Write `bytes`, escaped, into `out`.
pub fn write_escaped(out: &mut dyn Write, bytes: &[u8]) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.write_str("\\\\")?;
            } else if needs_escape(c) {
                let mut buffer = [0u8; 4];
                for byte in c.encode_utf8(&mut buffer).bytes() {
                    write!(out, "\\x{byte:02x}")?;
                }
            } else {
                out.write_char(c)?;
            }
        }
        for byte in chunk.invalid() {
            write!(out, "\\x{byte:02x}")?;
        }
    }
    Ok(())
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_unchanged() {
        for name in ["node1", "db-2.example.com", "Node_3", "zwölf", "a b"] {
            assert_eq!(escape_bytes(name.as_bytes()), name);
        }
    }

    #[test]
    fn control_characters_and_invalid_bytes_are_escaped() {
        assert_eq!(
            escape_bytes(b"evil\x1b[2J\tx\ny\x7f"),
            "evil\\x1b[2J\\x09x\\x0ay\\x7f"
        );
        assert_eq!(escape_bytes(b"a\xffb\xc3"), "a\\xffb\\xc3");
        assert_eq!(escape_bytes("c1\u{85}".as_bytes()), "c1\\xc2\\x85");
        assert_eq!(escape_bytes("rtl\u{202e}".as_bytes()), "rtl\\xe2\\x80\\xae");
        assert_eq!(escape_bytes(br"back\slash"), r"back\\slash");
        let printed = escape_bytes(&(0u8..=255).collect::<Vec<u8>>());
        assert!(printed.chars().all(|c| !c.is_control()), "{printed}");
    }
}
