//! The constraint sections of the placement TOML (`[[location]]`, `[[colocation]]`,
//! `[[order]]`): references checked against the resources, roles and actions checked
//! against what the resources are, ids unique, and no colocation or order cycle.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::super::config::{
    Colocation, Config, Location, LocationTarget, Order, OrderAction, OrderKind, Role,
};
use super::super::expand::{expand, find_cycle};
use super::super::rule::{BooleanOp, Expression, Rule};
use super::{bad, check_name, role, score_value, ConfigError, RawConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRule {
    pub(super) score: toml::Value,
    pub(super) expressions: Vec<String>,
    #[serde(default)]
    pub(super) boolean_op: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawLocation {
    pub(super) id: String,
    pub(super) resource: String,
    pub(super) node: Option<String>,
    pub(super) score: Option<toml::Value>,
    pub(super) rule: Option<RawRule>,
    pub(super) role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawColocation {
    pub(super) id: String,
    pub(super) resource: String,
    pub(super) with: String,
    pub(super) score: toml::Value,
    pub(super) with_role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawOrder {
    pub(super) id: String,
    pub(super) first: String,
    pub(super) first_action: Option<String>,
    pub(super) then: String,
    pub(super) then_action: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) symmetrical: Option<bool>,
}

/// A name a constraint may use: an existing resource, not a clone's child.
fn reference(config: &Config, section: &str, key: &str, name: &str) -> Result<(), ConfigError> {
    if let Some(c) = config.clone_of(name) {
        return Err(bad(
            section,
            key,
            format!("'{name}' is cloned: refer to the clone '{}'", c.name),
        ));
    }
    let exists = config.primitive(name).is_some()
        || config.group(name).is_some()
        || config.clone_named(name).is_some();
    if exists {
        Ok(())
    } else {
        Err(ConfigError::Dangling {
            section: section.into(),
            key: key.into(),
            name: name.into(),
        })
    }
}

fn promotable(config: &Config, section: &str, key: &str, name: &str) -> Result<(), ConfigError> {
    match config.clone_named(name) {
        Some(c) if c.promotable => Ok(()),
        _ => Err(bad(
            section,
            key,
            format!("'{name}' is not a promotable clone"),
        )),
    }
}

fn order_action(
    section: &str,
    key: &str,
    text: Option<&String>,
) -> Result<OrderAction, ConfigError> {
    match text.map(|t| t.to_ascii_lowercase()).as_deref() {
        None | Some("start") => Ok(OrderAction::Start),
        Some("promote") => Ok(OrderAction::Promote),
        Some(other) => Err(bad(
            section,
            key,
            format!("'{other}': expected start or promote"),
        )),
    }
}

pub(super) fn constraints(raw: &RawConfig, config: &mut Config) -> Result<(), ConfigError> {
    let mut ids = BTreeSet::new();
    let mut claim = |id: &str, section: &str| {
        check_name(section, id).map_err(|_| {
            bad(
                section,
                "id",
                format!("'{id}': use letters, digits, '-', '_' and '.'"),
            )
        })?;
        if ids.insert(id.to_string()) {
            Ok(())
        } else {
            Err(ConfigError::Duplicate {
                what: "constraint id",
                name: id.to_string(),
            })
        }
    };
    for l in &raw.location {
        let section = format!("[[location]] {}", l.id);
        claim(&l.id, &section)?;
        reference(config, &section, "resource", &l.resource)?;
        let role = role(&section, "role", l.role.as_ref())?;
        if role == Some(Role::Promoted) {
            promotable(config, &section, "resource", &l.resource)?;
        }
        let target = match (&l.node, &l.score, &l.rule) {
            (Some(node), Some(score), None) => LocationTarget::Node {
                node: node.clone(),
                score: score_value(&section, "score", score)?,
            },
            (None, None, Some(rule)) => {
                if rule.expressions.is_empty() {
                    return Err(bad(
                        &section,
                        "rule",
                        "a rule needs at least one expression",
                    ));
                }
                let boolean_op = match rule.boolean_op.as_deref() {
                    None | Some("and") => BooleanOp::And,
                    Some("or") => BooleanOp::Or,
                    Some(other) => {
                        return Err(bad(
                            &section,
                            "rule.boolean-op",
                            format!("'{other}': expected and or or"),
                        ))
                    }
                };
                LocationTarget::Rule(Rule {
                    score: score_value(&section, "rule.score", &rule.score)?,
                    boolean_op,
                    expressions: rule
                        .expressions
                        .iter()
                        .map(|e| {
                            Expression::parse(e)
                                .map_err(|err| bad(&section, "rule.expressions", err.to_string()))
                        })
                        .collect::<Result<_, _>>()?,
                })
            }
            _ => return Err(bad(&section, "node", "give either node and score, or rule")),
        };
        config.locations.push(Location {
            id: l.id.clone(),
            resource: l.resource.clone(),
            role,
            target,
        });
    }
    for c in &raw.colocation {
        let section = format!("[[colocation]] {}", c.id);
        claim(&c.id, &section)?;
        reference(config, &section, "resource", &c.resource)?;
        reference(config, &section, "with", &c.with)?;
        if c.resource == c.with {
            return Err(bad(
                &section,
                "with",
                "a resource cannot be colocated with itself",
            ));
        }
        let with_role = role(&section, "with-role", c.with_role.as_ref())?;
        if with_role == Some(Role::Promoted) {
            promotable(config, &section, "with", &c.with)?;
        }
        config.colocations.push(Colocation {
            id: c.id.clone(),
            resource: c.resource.clone(),
            with: c.with.clone(),
            score: score_value(&section, "score", &c.score)?,
            with_role,
        });
    }
    for o in &raw.order {
        let section = format!("[[order]] {}", o.id);
        claim(&o.id, &section)?;
        reference(config, &section, "first", &o.first)?;
        reference(config, &section, "then", &o.then)?;
        if o.first == o.then {
            return Err(bad(
                &section,
                "then",
                "a resource cannot be ordered after itself",
            ));
        }
        let first_action = order_action(&section, "first-action", o.first_action.as_ref())?;
        let then_action = order_action(&section, "then-action", o.then_action.as_ref())?;
        if first_action == OrderAction::Promote {
            promotable(config, &section, "first", &o.first)?;
        }
        if then_action == OrderAction::Promote {
            promotable(config, &section, "then", &o.then)?;
        }
        let kind = match o.kind.as_ref().map(|k| k.to_ascii_lowercase()).as_deref() {
            None | Some("mandatory") => OrderKind::Mandatory,
            Some("optional") => OrderKind::Optional,
            Some(other) => {
                return Err(bad(
                    &section,
                    "kind",
                    format!("'{other}': expected mandatory or optional"),
                ))
            }
        };
        config.orders.push(Order {
            id: o.id.clone(),
            first: o.first.clone(),
            first_action,
            then: o.then.clone(),
            then_action,
            kind,
            symmetrical: o.symmetrical.unwrap_or(true),
        });
    }
    Ok(())
}

pub(super) fn check_cycles(config: &Config) -> Result<(), ConfigError> {
    let expanded = expand(config);
    let all_colocation: Vec<(String, String)> = expanded
        .colocations
        .iter()
        .map(|c| (c.dependent.clone(), c.primary.clone()))
        .collect();
    if let Some(cycle) = find_cycle(&all_colocation) {
        return Err(ConfigError::Cycle {
            what: "colocation",
            cycle,
        });
    }
    let order: Vec<(String, String)> = expanded
        .orders
        .iter()
        .map(|o| (o.first.clone(), o.then.clone()))
        .collect();
    if let Some(cycle) = find_cycle(&order) {
        return Err(ConfigError::Cycle {
            what: "order",
            cycle,
        });
    }
    Ok(())
}
