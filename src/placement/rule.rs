//! Rules on node attributes for location constraints, pure: `pingd lt 1`,
//! `defined pingd`, `#uname eq node1`, combined with `and` / `or`. Values compare as
//! integers when both sides are integers, as text otherwise; `#uname` is the node name.

use std::collections::BTreeMap;
use std::fmt;

use super::score::Score;

/// How an attribute is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `lt`
    Less,
    /// `lte`
    LessOrEqual,
    /// `gt`
    Greater,
    /// `gte`
    GreaterOrEqual,
    /// `eq`
    Equal,
    /// `ne`
    NotEqual,
    /// `defined ATTR`
    Defined,
    /// `not_defined ATTR`
    NotDefined,
}

/// One test on a node attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    /// The attribute (`#uname` is the node's name).
    pub attribute: String,
    /// How it is compared.
    pub comparison: Comparison,
    /// The value compared with (none for defined / not_defined).
    pub value: Option<String>,
}

/// How the expressions of a rule combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BooleanOp {
    /// Every expression must hold (default).
    #[default]
    And,
    /// One expression suffices.
    Or,
}

/// A location rule: `score` applies to every node where the expressions hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The score given to matching nodes.
    pub score: Score,
    /// How the expressions combine.
    pub boolean_op: BooleanOp,
    /// The tests (at least one).
    pub expressions: Vec<Expression>,
}

/// An expression that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Not `ATTR OP VALUE`, `defined ATTR` or `not_defined ATTR`.
    #[error("'{0}': expected 'ATTRIBUTE OP VALUE' (OP: lt lte gt gte eq ne), 'defined ATTRIBUTE' or 'not_defined ATTRIBUTE'")]
    Syntax(String),
    /// An unknown comparison word.
    #[error("'{expression}': unknown comparison '{word}' (lt lte gt gte eq ne)")]
    Comparison {
        /// The whole expression.
        expression: String,
        /// The word that is not a comparison.
        word: String,
    },
}

impl Expression {
    /// Parse one expression.
    pub fn parse(text: &str) -> Result<Expression, RuleError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            [op @ ("defined" | "not_defined"), attribute] => Ok(Expression {
                attribute: (*attribute).to_string(),
                comparison: if *op == "defined" {
                    Comparison::Defined
                } else {
                    Comparison::NotDefined
                },
                value: None,
            }),
            [attribute, op, value] => {
                let comparison = match op.to_ascii_lowercase().as_str() {
                    "lt" => Comparison::Less,
                    "lte" => Comparison::LessOrEqual,
                    "gt" => Comparison::Greater,
                    "gte" => Comparison::GreaterOrEqual,
                    "eq" => Comparison::Equal,
                    "ne" => Comparison::NotEqual,
                    _ => {
                        return Err(RuleError::Comparison {
                            expression: text.to_string(),
                            word: (*op).to_string(),
                        })
                    }
                };
                Ok(Expression {
                    attribute: (*attribute).to_string(),
                    comparison,
                    value: Some((*value).to_string()),
                })
            }
            _ => Err(RuleError::Syntax(text.to_string())),
        }
    }

    /// Does the expression hold on node `node` with `attributes`?
    pub fn holds(&self, node: &str, attributes: &BTreeMap<String, String>) -> bool {
        let actual = if self.attribute == "#uname" {
            Some(node)
        } else {
            attributes.get(&self.attribute).map(String::as_str)
        };
        let Some(actual) = actual else {
            return self.comparison == Comparison::NotDefined;
        };
        let wanted = self.value.as_deref().unwrap_or("");
        let ordering = match (actual.trim().parse::<i64>(), wanted.trim().parse::<i64>()) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            _ => actual.cmp(wanted),
        };
        match self.comparison {
            Comparison::Defined => true,
            Comparison::NotDefined => false,
            Comparison::Less => ordering.is_lt(),
            Comparison::LessOrEqual => ordering.is_le(),
            Comparison::Greater => ordering.is_gt(),
            Comparison::GreaterOrEqual => ordering.is_ge(),
            Comparison::Equal => ordering.is_eq(),
            Comparison::NotEqual => ordering.is_ne(),
        }
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.comparison {
            Comparison::Less => "lt",
            Comparison::LessOrEqual => "lte",
            Comparison::Greater => "gt",
            Comparison::GreaterOrEqual => "gte",
            Comparison::Equal => "eq",
            Comparison::NotEqual => "ne",
            Comparison::Defined => return write!(f, "defined {}", self.attribute),
            Comparison::NotDefined => return write!(f, "not_defined {}", self.attribute),
        };
        write!(
            f,
            "{} {word} {}",
            self.attribute,
            self.value.as_deref().unwrap_or("")
        )
    }
}

impl Rule {
    /// Does the rule match node `node`?
    pub fn matches(&self, node: &str, attributes: &BTreeMap<String, String>) -> bool {
        let mut each = self.expressions.iter().map(|e| e.holds(node, attributes));
        match self.boolean_op {
            BooleanOp::And => each.all(|h| h),
            BooleanOp::Or => each.any(|h| h),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joiner = match self.boolean_op {
            BooleanOp::And => " and ",
            BooleanOp::Or => " or ",
        };
        let text: Vec<String> = self.expressions.iter().map(|e| e.to_string()).collect();
        f.write_str(&text.join(joiner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn numeric_and_text_comparisons() {
        let a = attrs(&[("pingd", "100"), ("rack", "b")]);
        let holds = |t: &str| Expression::parse(t).map(|e| e.holds("node1", &a));
        assert_eq!(holds("pingd gt 20"), Ok(true)); // 100 > 20 as numbers, not text
        assert_eq!(holds("pingd lte 99"), Ok(false));
        assert_eq!(holds("rack eq b"), Ok(true));
        assert_eq!(holds("rack ne b"), Ok(false));
        assert_eq!(holds("#uname eq node1"), Ok(true));
        assert_eq!(holds("defined pingd"), Ok(true));
        assert_eq!(holds("not_defined disk"), Ok(true));
        assert_eq!(holds("disk lt 5"), Ok(false));
    }

    #[test]
    fn bad_expressions() {
        assert!(matches!(
            Expression::parse("pingd about 5"),
            Err(RuleError::Comparison { .. })
        ));
        assert!(matches!(
            Expression::parse("pingd"),
            Err(RuleError::Syntax(_))
        ));
    }

    #[test]
    fn and_or() {
        let a = attrs(&[("pingd", "0")]);
        let rule = |op| Rule {
            score: Score::MINUS_INFINITY,
            boolean_op: op,
            expressions: vec![
                Expression::parse("not_defined pingd").unwrap(),
                Expression::parse("pingd lte 0").unwrap(),
            ],
        };
        assert!(rule(BooleanOp::Or).matches("n", &a));
        assert!(!rule(BooleanOp::And).matches("n", &a));
        assert_eq!(
            rule(BooleanOp::Or).to_string(),
            "not_defined pingd or pingd lte 0"
        );
    }
}
