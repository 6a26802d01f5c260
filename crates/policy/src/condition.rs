//! Condition blocks: `{"Operator": {"key": value-or-values}}`, with the `...IfExists` suffix
//! and the `ForAnyValue:` / `ForAllValues:` set prefixes. Keys are case-insensitive; values
//! are compared by the operator's own rules.

use crate::document::string_list;
use crate::evaluate::Context;
use crate::glob::glob_match;
use crate::PolicyError;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetMode {
    Single,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    test: Test,
    /// `StringNotEquals`, `NotIpAddress`, ...: true when no policy value matches.
    negated: bool,
    if_exists: bool,
    set: SetMode,
    key: String,
    values: Vec<String>,
}

fn operator(name: &str) -> Option<(Test, bool)> {
    use Test as T;
    Some(match name {
        "StringEquals" => (T::StringEquals, false),
        "StringNotEquals" => (T::StringEquals, true),
        "StringEqualsIgnoreCase" => (T::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (T::StringEqualsIgnoreCase, true),
        "StringLike" => (T::StringLike, false),
        "StringNotLike" => (T::StringLike, true),
        "NumericEquals" => (T::NumericEquals, false),
        "NumericNotEquals" => (T::NumericEquals, true),
        "NumericLessThan" => (T::NumericLessThan, false),
        "NumericLessThanEquals" => (T::NumericLessThanEquals, false),
        "NumericGreaterThan" => (T::NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (T::NumericGreaterThanEquals, false),
        "DateEquals" => (T::DateEquals, false),
        "DateNotEquals" => (T::DateEquals, true),
        "DateLessThan" => (T::DateLessThan, false),
        "DateLessThanEquals" => (T::DateLessThanEquals, false),
        "DateGreaterThan" => (T::DateGreaterThan, false),
        "DateGreaterThanEquals" => (T::DateGreaterThanEquals, false),
        "Bool" => (T::Bool, false),
        "BinaryEquals" => (T::StringEquals, false),
        "IpAddress" => (T::IpAddress, false),
        "NotIpAddress" => (T::IpAddress, true),
        "ArnEquals" | "ArnLike" => (T::ArnLike, false),
        "ArnNotEquals" | "ArnNotLike" => (T::ArnLike, true),
        "Null" => (T::Null, false),
        _ => return None,
    })
}

/// A date as policies write it: ISO 8601 or epoch seconds.
fn date_ms(s: &str) -> Option<i64> {
    sluice_model::time::parse_iso8601(s).or_else(|| s.parse::<i64>().ok().map(|v| v * 1000))
}

/// Parses `a.b.c.d/n` or an IPv6 CIDR (or a bare address) into bytes and a prefix length.
fn cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip: std::net::IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

fn in_cidr(ip: &str, range: &str) -> bool {
    let (Ok(ip), Some((net, bits))) = (ip.parse::<std::net::IpAddr>(), cidr(range)) else {
        return false;
    };
    let (a, b): (Vec<u8>, Vec<u8>) = match (ip, net) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => {
            (a.octets().into(), b.octets().into())
        }
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => {
            (a.octets().into(), b.octets().into())
        }
        _ => return false,
    };
    let bits = usize::from(bits);
    (0..bits).all(|i| (a[i / 8] >> (7 - i % 8)) & 1 == (b[i / 8] >> (7 - i % 8)) & 1)
}

fn compare(test: Test, have: &str, want: &str) -> bool {
    use Test as T;
    let num = || Some((have.parse::<f64>().ok()?, want.parse::<f64>().ok()?));
    let date = || Some((date_ms(have)?, date_ms(want)?));
    match test {
        T::StringEquals => have == want,
        T::StringEqualsIgnoreCase => have.to_lowercase() == want.to_lowercase(),
        T::StringLike | T::ArnLike => glob_match(want, have, false),
        T::NumericEquals => num().is_some_and(|(a, b)| a == b),
        T::NumericLessThan => num().is_some_and(|(a, b)| a < b),
        T::NumericLessThanEquals => num().is_some_and(|(a, b)| a <= b),
        T::NumericGreaterThan => num().is_some_and(|(a, b)| a > b),
        T::NumericGreaterThanEquals => num().is_some_and(|(a, b)| a >= b),
        T::DateEquals => date().is_some_and(|(a, b)| a == b),
        T::DateLessThan => date().is_some_and(|(a, b)| a < b),
        T::DateLessThanEquals => date().is_some_and(|(a, b)| a <= b),
        T::DateGreaterThan => date().is_some_and(|(a, b)| a > b),
        T::DateGreaterThanEquals => date().is_some_and(|(a, b)| a >= b),
        T::Bool => have.eq_ignore_ascii_case(want),
        T::IpAddress => in_cidr(have, want),
        T::Null => false,
    }
}

impl Condition {
    pub(crate) fn parse_block(block: &Map<String, Value>) -> Result<Vec<Self>, PolicyError> {
        let mut out = Vec::new();
        for (op, keys) in block {
            let (set, rest) = if let Some(r) = op.strip_prefix("ForAnyValue:") {
                (SetMode::AnyValue, r)
            } else if let Some(r) = op.strip_prefix("ForAllValues:") {
                (SetMode::AllValues, r)
            } else {
                (SetMode::Single, op.as_str())
            };
            let (name, if_exists) = match rest.strip_suffix("IfExists") {
                Some(n) if n != "Null" => (n, true),
                _ => (rest, false),
            };
            let (test, negated) = operator(name)
                .ok_or_else(|| PolicyError(format!("Invalid Condition type : {op}.")))?;
            let keys = keys
                .as_object()
                .ok_or_else(|| PolicyError("Syntax errors in policy.".into()))?;
            for (key, values) in keys {
                let values = string_list(values, "Condition")?;
                if test == Test::IpAddress && values.iter().any(|v| cidr(v).is_none()) {
                    return Err(PolicyError(format!(
                        "The policy has an invalid IP address in condition {op}"
                    )));
                }
                out.push(Self {
                    test,
                    negated,
                    if_exists,
                    set,
                    key: key.to_lowercase(),
                    values,
                });
            }
        }
        Ok(out)
    }

    /// Whether the condition holds for the request's context.
    pub(crate) fn holds(&self, context: &Context) -> bool {
        let present = context.values(&self.key);
        if self.test == Test::Null {
            // `"Null": {"key": "true"}` holds when the key is absent.
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return want_absent == present.is_none();
        }
        let values: Vec<String> = self
            .values
            .iter()
            // A value naming a key the request lacks matches nothing, so it is left out.
            .filter_map(|v| context.substitute(v))
            .collect();
        let matches_any = |have: &str| values.iter().any(|want| compare(self.test, have, want));
        let Some(present) = present else {
            return match self.set {
                SetMode::AllValues => true,
                SetMode::AnyValue => false,
                // A missing key: IfExists holds; negated operators hold; the rest do not.
                SetMode::Single => self.if_exists || self.negated,
            };
        };
        match self.set {
            SetMode::Single | SetMode::AnyValue => {
                let any = present.iter().any(|have| matches_any(have));
                any != self.negated
            }
            SetMode::AllValues => present.iter().all(|have| matches_any(have) != self.negated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(block: &str, context: &Context) -> bool {
        let block: Value = serde_json::from_str(block).expect("json");
        let conditions =
            Condition::parse_block(block.as_object().expect("object")).expect("parses");
        conditions.iter().all(|c| c.holds(context))
    }

    fn context() -> Context {
        let mut c = Context::default();
        c.set("aws:SourceIp", "192.0.2.64");
        c.set("aws:username", "JaneDoe");
        c.set("aws:CurrentTime", "2015-06-17T19:12:20Z");
        c.set("aws:EpochTime", "1434568340");
        c.set("aws:SecureTransport", "false");
        c
    }

    #[test]
    fn source_ip_is_matched_against_cidr_ranges() {
        let c = context();
        assert!(holds(
            r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24"]}}"#,
            &c
        ));
        assert!(!holds(
            r#"{"IpAddress":{"aws:SourceIp":"192.0.3.0/24"}}"#,
            &c
        ));
        assert!(holds(
            r#"{"NotIpAddress":{"aws:SourceIp":"192.0.3.0/24"}}"#,
            &c
        ));
        assert!(holds(r#"{"IpAddress":{"aws:sourceip":"192.0.2.64"}}"#, &c));
    }

    #[test]
    fn current_time_compares_as_a_date() {
        let c = context();
        assert!(holds(
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2015-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2016-01-01"}}"#,
            &c
        ));
        assert!(!holds(
            r#"{"DateLessThan":{"aws:CurrentTime":"2015-06-17T19:12:20Z"}}"#,
            &c
        ));
        assert!(holds(
            r#"{"NumericGreaterThanEquals":{"aws:EpochTime":1434568340}}"#,
            &c
        ));
    }

    #[test]
    fn string_operators_and_policy_variables() {
        let c = context();
        assert!(holds(r#"{"StringEquals":{"aws:username":"JaneDoe"}}"#, &c));
        assert!(!holds(r#"{"StringEquals":{"aws:username":"janedoe"}}"#, &c));
        assert!(holds(
            r#"{"StringEqualsIgnoreCase":{"aws:username":"janedoe"}}"#,
            &c
        ));
        assert!(holds(r#"{"StringLike":{"aws:username":"Jane*"}}"#, &c));
        assert!(holds(r#"{"StringNotLike":{"aws:username":"Bob*"}}"#, &c));
        assert!(holds(r#"{"Bool":{"aws:SecureTransport":"false"}}"#, &c));
        assert!(holds(
            r#"{"StringEquals":{"aws:username":"${aws:username}"}}"#,
            &c
        ));
    }

    #[test]
    fn missing_keys_fail_positive_tests_and_pass_negated_if_exists_and_null() {
        let c = context();
        assert!(!holds(
            r#"{"StringEquals":{"aws:PrincipalTag/team":"x"}}"#,
            &c
        ));
        assert!(holds(
            r#"{"StringNotEquals":{"aws:PrincipalTag/team":"x"}}"#,
            &c
        ));
        assert!(holds(
            r#"{"StringEqualsIfExists":{"aws:PrincipalTag/team":"x"}}"#,
            &c
        ));
        assert!(holds(r#"{"Null":{"aws:PrincipalTag/team":"true"}}"#, &c));
        assert!(!holds(r#"{"Null":{"aws:username":"true"}}"#, &c));
        assert!(holds(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":"x"}}"#,
            &c
        ));
        assert!(!holds(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"x"}}"#,
            &c
        ));
    }

    #[test]
    fn set_operators_look_at_every_request_value() {
        let mut c = Context::default();
        c.set_many("aws:TagKeys", vec!["env".into(), "team".into()]);
        assert!(holds(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team","owner"]}}"#,
            &c
        ));
        assert!(!holds(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["env"]}}"#,
            &c
        ));
        assert!(holds(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["team"]}}"#,
            &c
        ));
    }
}
