//! Pacemaker-style time spans (`60s`, `500ms`, `2min`, `1h`, a bare number = seconds) and
//! the monotonic [`Moment`] every pure state machine of the fencer is driven with.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point on the fencer's clock, in milliseconds.
///
/// The daemon anchors it to the wall clock once at start (Unix milliseconds then) and
/// advances it with a monotonic clock, so it never goes backwards and still reads as a
/// date in the history. Tests drive it by hand.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Moment(pub u64);

impl Moment {
    /// This moment plus `span` (saturating).
    pub fn after(self, span: Duration) -> Moment {
        Moment(self.0.saturating_add(millis(span)))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Moment) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// Whole milliseconds of a span (saturating at `u64::MAX`).
pub fn millis(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}

/// A time span that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Empty text.
    #[error("empty time span")]
    Empty,
    /// Not a number followed by a known unit.
    #[error("'{0}' is not a time span (examples: 60s, 500ms, 2min, 1h; a bare number is seconds)")]
    Invalid(String),
}

/// Parse a pacemaker time span: an unsigned number with an optional unit among `ms`,
/// `msec`, `s`, `sec`, `m`, `min`, `h`, `hr` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || DurationError::Invalid(text.to_string());
    let value: u64 = number.parse().map_err(|_| invalid())?;
    let per_unit_ms: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "msec" => 1,
        "" | "s" | "sec" => 1_000,
        "m" | "min" => 60_000,
        "h" | "hr" => 3_600_000,
        _ => return Err(invalid()),
    };
    value
        .checked_mul(per_unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(invalid)
}

/// Render a span the way it is written in configs: `1500ms`, `60s`.
pub fn format_duration(span: Duration) -> String {
    let ms = millis(span);
    let (secs, rest) = (ms / 1000, ms % 1000);
    if rest == 0 {
        format!("{secs}s")
    } else {
        format!("{ms}ms")
    }
}

/// Serde helpers: a `Duration` as whole milliseconds.
pub mod serde_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Write as milliseconds.
    pub fn serialize<S: Serializer>(span: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(super::millis(*span))
    }

    /// Read milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        let cases = [
            ("60", 60_000),
            ("60s", 60_000),
            ("500ms", 500),
            ("2min", 120_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            (" 5 s ", 5_000),
            ("0", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "",
            "s",
            "-1s",
            "1.5s",
            "10 parsecs",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn moments() {
        let t = Moment(1000);
        assert_eq!(t.after(Duration::from_millis(500)), Moment(1500));
        assert_eq!(Moment(1500).since(t), Duration::from_millis(500));
        assert_eq!(t.since(Moment(1500)), Duration::ZERO);
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(60)), "60s");
    }
}
