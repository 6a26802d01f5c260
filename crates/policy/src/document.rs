//! Policy documents: `Version`, `Statement` (one or a list), each with `Effect`,
//! `Action`/`NotAction`, `Resource`/`NotResource`, `Principal` (trust policies) and `Condition`.
//! Values that may be one string or a list are read both ways, as IAM reads them.

use crate::condition::Condition;
use crate::PolicyError;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A list of patterns, or every value except those (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Patterns {
    pub(crate) negated: bool,
    pub(crate) values: Vec<String>,
}

/// Who a trust policy lets assume a role.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrincipalSpec {
    pub any: bool,
    /// Account ids, account root ARNs, user or role ARNs (`"AWS"`).
    pub aws: Vec<String>,
    /// Service principals such as `codepipeline.amazonaws.com` (`"Service"`).
    pub service: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub(crate) actions: Patterns,
    pub(crate) resources: Option<Patterns>,
    pub principal: Option<PrincipalSpec>,
    pub(crate) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

fn malformed(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// One string or a list of strings; numbers and booleans are read as their text.
pub(crate) fn string_list(value: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(malformed(format!(
            "{field} must be a string or a list of strings"
        ))),
    };
    match value {
        Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

fn patterns(
    statement: &Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<Option<Patterns>, PolicyError> {
    match (statement.get(positive), statement.get(negative)) {
        (Some(_), Some(_)) => Err(malformed(format!(
            "Statement cannot have both {positive} and {negative}."
        ))),
        (Some(v), None) => Ok(Some(Patterns {
            negated: false,
            values: string_list(v, positive)?,
        })),
        (None, Some(v)) => Ok(Some(Patterns {
            negated: true,
            values: string_list(v, negative)?,
        })),
        (None, None) => Ok(None),
    }
}

fn principal(value: &Value) -> Result<PrincipalSpec, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(PrincipalSpec {
            any: true,
            ..Default::default()
        }),
        Value::Object(m) => {
            let mut spec = PrincipalSpec::default();
            for (k, v) in m {
                let values = string_list(v, "Principal")?;
                match k.as_str() {
                    "AWS" => {
                        spec.any |= values.iter().any(|v| v == "*");
                        spec.aws.extend(values);
                    }
                    "Service" => spec.service.extend(values),
                    "Federated" | "CanonicalUser" => {}
                    other => return Err(malformed(format!("Invalid principal type: {other}"))),
                }
            }
            Ok(spec)
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

/// What kind of policy a document is read as: identity policies name resources and never a
/// principal; trust policies (a role's `AssumeRolePolicyDocument`) name a principal and no
/// resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Identity,
    Trust,
}

impl Policy {
    /// Reads an identity policy (inline or managed).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        Self::parse_kind(text, Kind::Identity)
    }

    /// Reads a role's trust policy.
    pub fn parse_trust(text: &str) -> Result<Self, PolicyError> {
        Self::parse_kind(text, Kind::Trust)
    }

    fn parse_kind(text: &str, kind: Kind) -> Result<Self, PolicyError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|_| malformed("Syntax errors in policy."))?;
        let doc = doc
            .as_object()
            .ok_or_else(|| malformed("Syntax errors in policy."))?;
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!("Unknown field {key}")));
            }
        }
        if let Some(v) = doc.get("Version") {
            if !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17")) {
                return Err(malformed("The policy failed legacy parsing"));
            }
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => return Err(malformed("Missing required field Statement")),
        };
        let statements = statements
            .into_iter()
            .map(|s| Self::statement(s, kind))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { statements })
    }

    fn statement(value: &Value, kind: Kind) -> Result<Statement, PolicyError> {
        let s = value
            .as_object()
            .ok_or_else(|| malformed("Syntax errors in policy."))?;
        for key in s.keys() {
            if !matches!(
                key.as_str(),
                "Sid"
                    | "Effect"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Principal"
                    | "NotPrincipal"
                    | "Condition"
            ) {
                return Err(malformed(format!("Unknown field {key}")));
            }
        }
        let effect = match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            Some(other) => return Err(malformed(format!("Invalid effect: {other}"))),
            None => return Err(malformed("Missing required field Effect")),
        };
        let actions = patterns(s, "Action", "NotAction")?
            .ok_or_else(|| malformed("Policy statement must contain actions."))?;
        for action in &actions.values {
            if action != "*" && !action.contains(':') {
                return Err(malformed(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                ));
            }
        }
        let resources = patterns(s, "Resource", "NotResource")?;
        let principal = match (s.get("Principal"), s.get("NotPrincipal")) {
            (Some(p), _) => Some(principal(p)?),
            (None, Some(_)) => return Err(malformed("NotPrincipal is not supported")),
            (None, None) => None,
        };
        match kind {
            Kind::Identity => {
                if principal.is_some() {
                    return Err(malformed("Policy document should not specify a principal."));
                }
                if resources.is_none() {
                    return Err(malformed("Policy statement must contain resources."));
                }
            }
            Kind::Trust => {
                if principal.is_none() {
                    return Err(malformed("AssumeRole policy must have a Principal."));
                }
                if resources.is_some() {
                    return Err(malformed("Has prohibited field Resource"));
                }
            }
        }
        let conditions = match s.get("Condition") {
            Some(Value::Object(m)) => Condition::parse_block(m)?,
            Some(_) => return Err(malformed("Syntax errors in policy.")),
            None => Vec::new(),
        };
        Ok(Statement {
            sid: s.get("Sid").and_then(Value::as_str).map(str::to_string),
            effect,
            actions,
            resources,
            principal,
            conditions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_may_be_one_object_and_values_one_string() {
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"codepipeline:*","Resource":"*"}}"#,
        )
        .expect("parses");
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.statements[0].actions.values, ["codepipeline:*"]);
    }

    #[test]
    fn malformed_documents_are_refused_with_iams_words() {
        let cases = [
            ("{", "Syntax errors in policy."),
            (
                r#"{"Statement":[{"Action":"a:b","Resource":"*"}]}"#,
                "Missing required field Effect",
            ),
            (
                r#"{"Statement":[{"Effect":"Permit","Action":"a:b","Resource":"*"}]}"#,
                "Invalid effect: Permit",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                "Policy statement must contain actions.",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"a:b"}]}"#,
                "Policy statement must contain resources.",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"GetPipeline","Resource":"*"}]}"#,
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","Principal":"*"}]}"#,
                "Policy document should not specify a principal.",
            ),
            (
                r#"{"Version":"2020-01-01","Statement":[]}"#,
                "The policy failed legacy parsing",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}]}"#,
                "Invalid Condition type : StringEqualz.",
            ),
        ];
        for (doc, message) in cases {
            assert_eq!(
                Policy::parse(doc),
                Err(PolicyError(message.into())),
                "{doc}"
            );
        }
    }

    #[test]
    fn trust_policies_need_a_principal_and_no_resource() {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let p = Policy::parse_trust(trust).expect("parses");
        assert_eq!(
            p.statements[0]
                .principal
                .as_ref()
                .map(|p| p.service.clone()),
            Some(vec!["codepipeline.amazonaws.com".to_string()])
        );
        assert!(Policy::parse(trust).is_err());
    }
}
