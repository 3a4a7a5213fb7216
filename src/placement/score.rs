//! Placement scores with pacemaker's INFINITY arithmetic: an integer clamped to
//! ±1 000 000, where -INFINITY wins over everything (`+INF + -INF = -INF`), +INFINITY
//! wins over any finite value, and finite sums saturate at the infinities.

use std::fmt;
use std::ops::{Add, AddAssign};

/// The magnitude pacemaker calls INFINITY.
pub const INFINITY: i64 = 1_000_000;

/// A node score: how much a resource wants (positive) or avoids (negative) a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Score(i64);

/// A score that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a score (an integer, INFINITY, +INFINITY or -INFINITY)")]
pub struct ScoreError(pub String);

impl Score {
    /// Zero: no preference.
    pub const ZERO: Score = Score(0);
    /// Must run here.
    pub const INFINITY: Score = Score(INFINITY);
    /// Must never run here.
    pub const MINUS_INFINITY: Score = Score(-INFINITY);

    /// A score from an integer, clamped to ±INFINITY.
    pub fn new(value: i64) -> Score {
        Score(value.clamp(-INFINITY, INFINITY))
    }

    /// The clamped integer value.
    pub fn value(self) -> i64 {
        self.0
    }

    /// -INFINITY: the resource may never run there.
    pub fn is_minus_infinity(self) -> bool {
        self.0 <= -INFINITY
    }

    /// +INFINITY.
    pub fn is_infinity(self) -> bool {
        self.0 >= INFINITY
    }

    /// Scale by `factor / INFINITY` (how pacemaker weighs a colocated resource's
    /// preferences by the colocation score); infinities stay infinite when the factor is
    /// INFINITY.
    pub fn scaled(self, factor: Score) -> Score {
        if factor.is_infinity() {
            return self;
        }
        if self.is_minus_infinity() || self.is_infinity() {
            // An infinite preference weighed by a finite colocation is just that weight.
            return if self.0 < 0 {
                Score::new(-factor.0)
            } else {
                factor
            };
        }
        Score::new(self.0.saturating_mul(factor.0) / INFINITY)
    }

    /// Parse `INFINITY`, `+INFINITY`, `-INFINITY` (also `inf`, any case) or an integer.
    pub fn parse(text: &str) -> Result<Score, ScoreError> {
        let t = text.trim();
        let (sign, body) = match t.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, t.strip_prefix('+').unwrap_or(t)),
        };
        let lower = body.to_ascii_lowercase();
        if lower == "infinity" || lower == "inf" {
            return Ok(Score(sign * INFINITY));
        }
        body.parse::<i64>()
            .map(|v| Score::new(sign * v))
            .map_err(|_| ScoreError(text.to_string()))
    }
}

impl Add for Score {
    type Output = Score;

    fn add(self, other: Score) -> Score {
        if self.is_minus_infinity() || other.is_minus_infinity() {
            Score::MINUS_INFINITY
        } else if self.is_infinity() || other.is_infinity() {
            Score::INFINITY
        } else {
            Score::new(self.0.saturating_add(other.0))
        }
    }
}

impl AddAssign for Score {
    fn add_assign(&mut self, other: Score) {
        *self = *self + other;
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_infinity() {
            f.write_str("INFINITY")
        } else if self.is_minus_infinity() {
            f.write_str("-INFINITY")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl From<i64> for Score {
    fn from(value: i64) -> Score {
        Score::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinity_arithmetic() {
        let inf = Score::INFINITY;
        let minus = Score::MINUS_INFINITY;
        assert_eq!(inf + minus, minus);
        assert_eq!(minus + inf, minus);
        assert_eq!(inf + Score::new(-5), inf);
        assert_eq!(Score::new(999_999) + Score::new(5), inf);
        assert_eq!(Score::new(-999_999) + Score::new(-5), minus);
        assert_eq!(Score::new(50) + Score::new(100), Score::new(150));
    }

    #[test]
    fn parse_and_display() {
        for (text, value) in [
            ("INFINITY", INFINITY),
            ("+INFINITY", INFINITY),
            ("-INFINITY", -INFINITY),
            ("-inf", -INFINITY),
            ("50", 50),
            ("-20", -20),
            ("5000000", INFINITY),
        ] {
            assert_eq!(Score::parse(text).map(Score::value), Ok(value), "{text}");
        }
        assert!(Score::parse("lots").is_err());
        assert!(Score::parse("").is_err());
        assert_eq!(Score::MINUS_INFINITY.to_string(), "-INFINITY");
        assert_eq!(Score::new(7).to_string(), "7");
    }

    #[test]
    fn scaling() {
        assert_eq!(Score::new(100).scaled(Score::INFINITY), Score::new(100));
        assert_eq!(Score::new(100).scaled(Score::new(500_000)), Score::new(50));
        assert_eq!(
            Score::MINUS_INFINITY.scaled(Score::new(200)),
            Score::new(-200)
        );
        assert_eq!(
            Score::MINUS_INFINITY.scaled(Score::INFINITY),
            Score::MINUS_INFINITY
        );
    }
}
