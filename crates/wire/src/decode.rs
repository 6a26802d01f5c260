//! Turns a request body into a typed input the way AWS does: a JSON document whose types do not
//! match the shape is a `SerializationException`; one that breaks a constraint of the model
//! (required member, length, pattern, enum, range) is a `ValidationException` listing every
//! violation in AWS's wording.

use crate::shape::{shape_in, ShapeDef, ShapeTable};
use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Why a body could not become a typed input.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// Malformed JSON or a value of the wrong JSON type.
    Serialization(String),
    /// Constraint violations, already worded as AWS words them.
    Validation(String),
}

/// Parses, checks and deserializes `body` as CodePipeline's shape `shape_name`.
pub fn decode<T: DeserializeOwned>(shape_name: &str, body: &[u8]) -> Result<T, DecodeError> {
    decode_in(crate::generated::SHAPES, shape_name, body)
}

/// `decode` against one service's shapes.
pub fn decode_in<T: DeserializeOwned>(
    table: ShapeTable,
    shape_name: &str,
    body: &[u8],
) -> Result<T, DecodeError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            DecodeError::Serialization(format!("Malformed JSON in request body: {e}"))
        })?
    };
    decode_value_in(table, shape_name, value)
}

/// `decode_in` for a request already turned into a JSON value (a Query request's parameters).
pub fn decode_value_in<T: DeserializeOwned>(
    table: ShapeTable,
    shape_name: &str,
    value: Value,
) -> Result<T, DecodeError> {
    let mut violations = Vec::new();
    check(table, shape_name, &value, "", &mut violations)?;
    if !violations.is_empty() {
        let n = violations.len();
        let noun = if n == 1 { "error" } else { "errors" };
        return Err(DecodeError::Validation(format!(
            "{n} validation {noun} detected: {}",
            violations.join("; ")
        )));
    }
    serde_json::from_value(value).map_err(|e| DecodeError::Serialization(e.to_string()))
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_string()
    } else {
        format!("{path}.{member}")
    }
}

fn shown(value: &Value, sensitive: bool) -> String {
    if sensitive {
        return "'***'".to_string();
    }
    match value {
        Value::String(s) => format!("'{s}'"),
        Value::Null => "null".to_string(),
        other => format!("'{other}'"),
    }
}

fn violation(value: &Value, path: &str, constraint: &str, sensitive: bool) -> String {
    format!(
        "Value {} at '{path}' failed to satisfy constraint: {constraint}",
        shown(value, sensitive)
    )
}

fn wrong_type(path: &str, expected: &str) -> DecodeError {
    let at = if path.is_empty() {
        "the request body"
    } else {
        path
    };
    DecodeError::Serialization(format!("Expected {expected} at '{at}'"))
}

fn regex_for(pattern: &'static str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(pattern)
        .or_insert_with(|| Regex::new(&format!("^(?:{pattern})$")).ok())
        .clone()
}

fn check_length(
    len: usize,
    min: Option<i64>,
    max: Option<i64>,
    value: &Value,
    path: &str,
    sensitive: bool,
    out: &mut Vec<String>,
) {
    let len = len as i64;
    if let Some(min) = min {
        if len < min {
            let c = format!("Member must have length greater than or equal to {min}");
            out.push(violation(value, path, &c, sensitive));
        }
    }
    if let Some(max) = max {
        if len > max {
            let c = format!("Member must have length less than or equal to {max}");
            out.push(violation(value, path, &c, sensitive));
        }
    }
}

fn check(
    table: ShapeTable,
    shape_name: &str,
    value: &Value,
    path: &str,
    out: &mut Vec<String>,
) -> Result<(), DecodeError> {
    let Some(def) = shape_in(table, shape_name) else {
        return Ok(());
    };
    if value.is_null() {
        return Ok(());
    }
    match *def {
        ShapeDef::String {
            min,
            max,
            pattern,
            enum_values,
            sensitive,
        } => {
            let Some(s) = value.as_str() else {
                return Err(wrong_type(path, "a string"));
            };
            check_length(s.chars().count(), min, max, value, path, sensitive, out);
            if let Some(p) = pattern {
                if regex_for(p).is_some_and(|re| !re.is_match(s)) {
                    let c = format!("Member must satisfy regular expression pattern: {p}");
                    out.push(violation(value, path, &c, sensitive));
                }
            }
            if !enum_values.is_empty() && !enum_values.contains(&s) {
                let c = format!(
                    "Member must satisfy enum value set: [{}]",
                    enum_values.join(", ")
                );
                out.push(violation(value, path, &c, sensitive));
            }
        }
        ShapeDef::Integer { min, max } => {
            let Some(n) = value.as_i64() else {
                return Err(wrong_type(path, "an integer"));
            };
            if min.is_some_and(|m| n < m) {
                let c = format!(
                    "Member must have value greater than or equal to {}",
                    min.unwrap_or_default()
                );
                out.push(violation(value, path, &c, false));
            }
            if max.is_some_and(|m| n > m) {
                let c = format!(
                    "Member must have value less than or equal to {}",
                    max.unwrap_or_default()
                );
                out.push(violation(value, path, &c, false));
            }
        }
        ShapeDef::Boolean => {
            if !value.is_boolean() {
                return Err(wrong_type(path, "a boolean"));
            }
        }
        ShapeDef::Timestamp | ShapeDef::Double => {
            if !value.is_number() {
                return Err(wrong_type(path, "a number"));
            }
        }
        ShapeDef::List { member, min, max } => {
            let Some(items) = value.as_array() else {
                return Err(wrong_type(path, "a list"));
            };
            check_length(items.len(), min, max, value, path, false, out);
            for (i, item) in items.iter().enumerate() {
                let item_path = join(path, &format!("{}.member", i + 1));
                if item.is_null() {
                    let c = "Member must not be null";
                    out.push(violation(item, &item_path, c, false));
                    continue;
                }
                check(table, member, item, &item_path, out)?;
            }
        }
        ShapeDef::Map {
            key,
            value: value_shape,
            min,
            max,
            ..
        } => {
            let Some(entries) = value.as_object() else {
                return Err(wrong_type(path, "a map"));
            };
            check_length(entries.len(), min, max, value, path, false, out);
            for (k, v) in entries {
                check(
                    table,
                    key,
                    &Value::String(k.clone()),
                    &join(path, "key"),
                    out,
                )?;
                check(table, value_shape, v, &join(path, k), out)?;
            }
        }
        ShapeDef::Structure { members, .. } => {
            let Some(fields) = value.as_object() else {
                return Err(wrong_type(path, "a structure"));
            };
            for m in members {
                let member_path = join(path, m.name);
                match fields.get(m.name) {
                    None | Some(Value::Null) if m.required => {
                        out.push(violation(
                            &Value::Null,
                            &member_path,
                            "Member must not be null",
                            false,
                        ));
                    }
                    None => {}
                    Some(v) => check(table, m.shape, v, &member_path, out)?,
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::{CreatePipelineInput, GetPipelineInput, Operation, SHAPES};
    use crate::shape::shape;

    #[test]
    fn every_pattern_of_the_model_compiles() {
        for (name, def) in SHAPES {
            if let ShapeDef::String {
                pattern: Some(p), ..
            } = def
            {
                assert!(
                    regex_for(p).is_some(),
                    "pattern of {name} does not compile: {p}"
                );
            }
        }
    }

    #[test]
    fn every_pattern_of_the_connections_model_compiles_and_its_table_is_sorted() {
        use crate::connections as c;
        assert!(c::SHAPES.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, def) in c::SHAPES {
            if let ShapeDef::String {
                pattern: Some(p), ..
            } = def
            {
                assert!(
                    regex_for(p).is_some(),
                    "pattern of {name} does not compile: {p}"
                );
            }
        }
        for op in c::Operation::ALL {
            if let Some(input) = op.input_shape() {
                assert!(c::shape(input).is_some(), "{input}");
            }
        }
    }

    #[test]
    fn shapes_table_is_sorted_for_lookup() {
        assert!(SHAPES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(shape("PipelineDeclaration").is_some());
        for op in Operation::ALL {
            if let Some(input) = op.input_shape() {
                assert!(shape(input).is_some(), "{input}");
            }
        }
    }

    #[test]
    fn missing_required_member_is_a_validation_error() {
        let err = decode::<GetPipelineInput>("GetPipelineInput", b"{}").unwrap_err();
        assert_eq!(
            err,
            DecodeError::Validation(
                "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null".into()
            )
        );
    }

    #[test]
    fn pattern_and_length_violations_are_all_listed() {
        let name = "x".repeat(101) + "!";
        let body = format!(r#"{{"name":"{name}"}}"#);
        let err = decode::<GetPipelineInput>("GetPipelineInput", body.as_bytes()).unwrap_err();
        let DecodeError::Validation(msg) = err else {
            panic!("{err:?}")
        };
        assert!(msg.starts_with("2 validation errors detected: "), "{msg}");
        assert!(msg.contains("Member must have length less than or equal to 100"));
        assert!(msg.contains("Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+"));
    }

    #[test]
    fn wrong_json_type_is_a_serialization_error() {
        let err = decode::<GetPipelineInput>("GetPipelineInput", br#"{"name": 5}"#).unwrap_err();
        assert!(matches!(err, DecodeError::Serialization(_)));
        let err = decode::<GetPipelineInput>("GetPipelineInput", b"{nope").unwrap_err();
        assert!(matches!(err, DecodeError::Serialization(_)));
    }

    #[test]
    fn nested_paths_name_the_list_member() {
        let body = br#"{"pipeline":{"name":"p","roleArn":"arn:aws:iam::123456789012:role/x",
            "stages":[{"name":"S","actions":[{"name":"a","actionTypeId":{"category":"Nope","owner":"AWS","provider":"S3","version":"1"}}]}]}}"#;
        let err = decode::<CreatePipelineInput>("CreatePipelineInput", body).unwrap_err();
        let DecodeError::Validation(msg) = err else {
            panic!("{err:?}")
        };
        assert!(
            msg.contains("at 'pipeline.stages.1.member.actions.1.member.actionTypeId.category'"),
            "{msg}"
        );
    }
}
