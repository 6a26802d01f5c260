//! EventBridge event patterns, as AWS documents them ("Creating event patterns"): a pattern is a
//! JSON object whose leaves are arrays of matchers, any of which may match; every field the
//! pattern names must match; an array in the event matches when any of its elements does.
//!
//! Matchers: a literal (string, number, `true`/`false`, `null`), `prefix`, `suffix`,
//! `equals-ignore-case`, `wildcard`, `anything-but` (a literal, a list of them, or a `prefix`/
//! `suffix`/`equals-ignore-case`/`wildcard`), `numeric` (one or two comparisons), `exists`, and
//! `cidr` (IPv4); `$or` joins alternative patterns.

use serde_json::{Map, Value};

/// Why a pattern was refused; worded for `InvalidEventPatternException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {0}")]
pub struct PatternError(String);

fn invalid<T>(reason: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(reason.into()))
}

/// A parsed, checked event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// Every field must match.
    fields: Vec<(String, Node)>,
    /// Each `$or`: at least one alternative must match.
    alternatives: Vec<Vec<Pattern>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Nested(Pattern),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Text {
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exactly(Value),
    Text(Text),
    AnythingBut(Vec<Value>),
    AnythingButText(Text),
    Numeric(Vec<(Comparison, f64)>),
    Exists(bool),
    Cidr { network: u32, mask: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparison {
    Less,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    Greater,
}

/// The most fields and matchers a pattern may hold, as EventBridge bounds its complexity.
const MOST_MATCHERS: usize = 1_000;

impl Pattern {
    /// Parses the `EventPattern` of a rule.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return invalid(format!("the pattern is not JSON: {e}")),
        };
        let Value::Object(object) = value else {
            return invalid("the pattern must be a JSON object");
        };
        if object.is_empty() {
            return invalid("the pattern must name at least one field");
        }
        let mut budget = MOST_MATCHERS;
        Self::from_object(&object, &mut budget)
    }

    fn from_object(
        object: &Map<String, Value>,
        budget: &mut usize,
    ) -> Result<Pattern, PatternError> {
        let mut pattern = Pattern {
            fields: Vec::new(),
            alternatives: Vec::new(),
        };
        for (name, value) in object {
            if name == "$or" {
                let Value::Array(items) = value else {
                    return invalid("\"$or\" must be an array of patterns");
                };
                if items.len() < 2 {
                    return invalid("\"$or\" must have at least 2 alternatives");
                }
                let mut alternatives = Vec::new();
                for item in items {
                    let Value::Object(o) = item else {
                        return invalid("each alternative of \"$or\" must be an object");
                    };
                    alternatives.push(Self::from_object(o, budget)?);
                }
                pattern.alternatives.push(alternatives);
                continue;
            }
            let node = match value {
                Value::Object(o) => {
                    if o.is_empty() {
                        return invalid(format!("\"{name}\" must not be an empty object"));
                    }
                    Node::Nested(Self::from_object(o, budget)?)
                }
                Value::Array(items) => {
                    if items.is_empty() {
                        return invalid(format!("Empty arrays are not allowed (at \"{name}\")"));
                    }
                    let mut matchers = Vec::new();
                    for item in items {
                        *budget = budget
                            .checked_sub(1)
                            .map_or_else(|| invalid("the pattern is too complex"), Ok)?;
                        matchers.push(matcher(name, item)?);
                    }
                    Node::Leaf(matchers)
                }
                _ => return invalid(format!("\"{name}\" must be an object or an array")),
            };
            pattern.fields.push((name.clone(), node));
        }
        Ok(pattern)
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &Value) -> bool {
        let object = event.as_object();
        self.fields.iter().all(|(name, node)| {
            let field = object.and_then(|o| o.get(name));
            match node {
                Node::Nested(inner) => match field {
                    Some(Value::Array(items)) => items.iter().any(|i| inner.matches(i)),
                    Some(v) => inner.matches(v),
                    // A nested pattern over an absent field can still match through `exists: false`.
                    None => inner.matches(&Value::Null) && inner.only_absence(),
                },
                Node::Leaf(matchers) => matchers.iter().any(|m| m.matches(field)),
            }
        }) && self
            .alternatives
            .iter()
            .all(|alts| alts.iter().any(|p| p.matches(event)))
    }

    /// Whether every leaf of this pattern asks only that a field be absent.
    fn only_absence(&self) -> bool {
        self.fields.iter().all(|(_, node)| match node {
            Node::Nested(p) => p.only_absence(),
            Node::Leaf(ms) => ms.iter().all(|m| matches!(m, Matcher::Exists(false))),
        })
    }
}

fn text_matcher(name: &str, kind: &str, value: &Value) -> Result<Text, PatternError> {
    let string = |v: &Value| -> Result<String, PatternError> {
        match v.as_str() {
            Some(s) => Ok(s.to_string()),
            None => invalid(format!(
                "{kind} match pattern must be a string (at \"{name}\")"
            )),
        }
    };
    Ok(match kind {
        "prefix" | "suffix" => {
            if let Some(inner) = value.as_object() {
                let Some(s) = inner.get("equals-ignore-case") else {
                    return invalid(format!("Unsupported {kind} pattern (at \"{name}\")"));
                };
                let s = string(s)?;
                if kind == "prefix" {
                    Text::PrefixIgnoreCase(s)
                } else {
                    Text::SuffixIgnoreCase(s)
                }
            } else if kind == "prefix" {
                Text::Prefix(string(value)?)
            } else {
                Text::Suffix(string(value)?)
            }
        }
        "equals-ignore-case" => Text::EqualsIgnoreCase(string(value)?),
        "wildcard" => {
            let s = string(value)?;
            if s.contains("**") {
                return invalid(format!(
                    "Consecutive wildcard characters are not allowed (at \"{name}\")"
                ));
            }
            Text::Wildcard(s)
        }
        other => return invalid(format!("Unrecognized match type {other} (at \"{name}\")")),
    })
}

fn literal(name: &str, value: &Value) -> Result<Value, PatternError> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => Ok(value.clone()),
        _ => invalid(format!(
            "Match value must be a string, number, boolean or null (at \"{name}\")"
        )),
    }
}

fn matcher(name: &str, item: &Value) -> Result<Matcher, PatternError> {
    let Value::Object(object) = item else {
        return Ok(Matcher::Exactly(literal(name, item)?));
    };
    if object.len() != 1 {
        return invalid(format!(
            "a match expression must have exactly one key (at \"{name}\")"
        ));
    }
    let Some((kind, value)) = object.iter().next() else {
        return invalid(format!(
            "a match expression must have exactly one key (at \"{name}\")"
        ));
    };
    Ok(match kind.as_str() {
        "prefix" | "suffix" | "equals-ignore-case" | "wildcard" => {
            Matcher::Text(text_matcher(name, kind, value)?)
        }
        "anything-but" => match value {
            Value::Array(items) => {
                if items.is_empty() {
                    return invalid(format!("Empty arrays are not allowed (at \"{name}\")"));
                }
                Matcher::AnythingBut(
                    items
                        .iter()
                        .map(|v| literal(name, v))
                        .collect::<Result<_, _>>()?,
                )
            }
            Value::Object(inner) => {
                let Some((inner_kind, inner_value)) =
                    inner.iter().next().filter(|_| inner.len() == 1)
                else {
                    return invalid(format!("Unsupported anything-but pattern (at \"{name}\")"));
                };
                Matcher::AnythingButText(text_matcher(name, inner_kind, inner_value)?)
            }
            other => Matcher::AnythingBut(vec![literal(name, other)?]),
        },
        "numeric" => Matcher::Numeric(numeric(name, value)?),
        "exists" => match value {
            Value::Bool(b) => Matcher::Exists(*b),
            _ => {
                return invalid(format!(
                    "exists match pattern must be either true or false (at \"{name}\")"
                ))
            }
        },
        "cidr" => {
            let Some((network, mask)) = value.as_str().and_then(parse_cidr) else {
                return invalid(format!("Malformed CIDR, one '/' required (at \"{name}\")"));
            };
            Matcher::Cidr { network, mask }
        }
        other => return invalid(format!("Unrecognized match type {other} (at \"{name}\")")),
    })
}

fn numeric(name: &str, value: &Value) -> Result<Vec<(Comparison, f64)>, PatternError> {
    let Value::Array(items) = value else {
        return invalid(format!("Value of numeric must be an array (at \"{name}\")"));
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return invalid(format!("Malformed numeric range (at \"{name}\")"));
    }
    let mut comparisons = Vec::new();
    for pair in items.chunks(2) {
        let op = match pair[0].as_str() {
            Some("<") => Comparison::Less,
            Some("<=") => Comparison::LessOrEqual,
            Some("=") => Comparison::Equal,
            Some(">=") => Comparison::GreaterOrEqual,
            Some(">") => Comparison::Greater,
            _ => {
                return invalid(format!(
                    "Unrecognized numeric range operator (at \"{name}\")"
                ))
            }
        };
        let Some(n) = pair[1].as_f64() else {
            return invalid(format!(
                "Value of {} must be numeric (at \"{name}\")",
                pair[0]
            ));
        };
        comparisons.push((op, n));
    }
    if comparisons.len() == 2 {
        let lower = matches!(
            comparisons[0].0,
            Comparison::Greater | Comparison::GreaterOrEqual
        );
        let upper = matches!(comparisons[1].0, Comparison::Less | Comparison::LessOrEqual);
        if !lower || !upper || comparisons[0].1 > comparisons[1].1 {
            return invalid(format!("Bad numeric range (at \"{name}\")"));
        }
    }
    Ok(comparisons)
}

fn parse_ipv4(text: &str) -> Option<u32> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut address = 0u32;
    for part in parts {
        address = (address << 8) | u32::from(part.parse::<u8>().ok()?);
    }
    Some(address)
}

fn parse_cidr(text: &str) -> Option<(u32, u32)> {
    let (address, bits) = text.split_once('/')?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Some((parse_ipv4(address)? & mask, mask))
}

fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl Text {
    fn matches(&self, value: &Value) -> bool {
        let Some(s) = value.as_str() else {
            return false;
        };
        match self {
            Text::Prefix(p) => s.starts_with(p.as_str()),
            Text::Suffix(p) => s.ends_with(p.as_str()),
            Text::PrefixIgnoreCase(p) => s.to_lowercase().starts_with(&p.to_lowercase()),
            Text::SuffixIgnoreCase(p) => s.to_lowercase().ends_with(&p.to_lowercase()),
            Text::EqualsIgnoreCase(p) => s.to_lowercase() == p.to_lowercase(),
            Text::Wildcard(p) => wildcard(p, s),
        }
    }
}

fn same(literal: &Value, value: &Value) -> bool {
    match (literal, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

impl Matcher {
    /// Whether the field (absent: `None`) matches.
    fn matches(&self, field: Option<&Value>) -> bool {
        if let Matcher::Exists(wanted) = self {
            let exists = field.is_some_and(|v| !v.is_object() && v != &Value::Array(Vec::new()));
            return exists == *wanted;
        }
        match field {
            None => false,
            Some(Value::Array(items)) => items.iter().any(|v| self.matches_one(v)),
            Some(v) => self.matches_one(v),
        }
    }

    fn matches_one(&self, value: &Value) -> bool {
        match self {
            Matcher::Exactly(literal) => same(literal, value),
            Matcher::Text(text) => text.matches(value),
            Matcher::AnythingBut(values) => !values.iter().any(|l| same(l, value)),
            Matcher::AnythingButText(text) => value.is_string() && !text.matches(value),
            Matcher::Numeric(comparisons) => value.as_f64().is_some_and(|n| {
                comparisons.iter().all(|(op, bound)| match op {
                    Comparison::Less => n < *bound,
                    Comparison::LessOrEqual => n <= *bound,
                    Comparison::Equal => n == *bound,
                    Comparison::GreaterOrEqual => n >= *bound,
                    Comparison::Greater => n > *bound,
                })
            }),
            Matcher::Exists(_) => true,
            Matcher::Cidr { network, mask } => value
                .as_str()
                .and_then(parse_ipv4)
                .is_some_and(|a| a & mask == *network),
        }
    }
}

#[cfg(test)]
mod tests;
