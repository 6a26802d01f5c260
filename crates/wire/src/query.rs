//! The AWS Query protocol (SNS), read and written from a service's shape table: a request's
//! form parameters (`Attributes.entry.1.key=…`, `Tags.member.1.Key=…`) become the JSON value
//! of its input shape, checked like a JSON body; an answer's value becomes the XML the SDKs read
//! (`<member>` items, `<entry><key/><value/></entry>` pairs).

use crate::decode::{decode_value_in, DecodeError};
use crate::shape::{shape_in, ShapeDef, ShapeTable};
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// Builds the input shape `shape_name` from form parameters, then checks and deserializes it.
pub fn decode_params<T: DeserializeOwned>(
    table: ShapeTable,
    shape_name: &str,
    params: &BTreeMap<String, String>,
) -> Result<T, DecodeError> {
    let value = read(table, shape_name, "", params)?.unwrap_or(Value::Object(Map::new()));
    decode_value_in(table, shape_name, value)
}

fn key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Whether any parameter lies at or under `prefix`.
fn present(prefix: &str, params: &BTreeMap<String, String>) -> bool {
    params.contains_key(prefix)
        || params
            .range(format!("{prefix}.")..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&format!("{prefix}.")))
}

fn invalid(name: &str, expected: &str, value: &str) -> DecodeError {
    DecodeError::Validation(format!(
        "1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: Member must be {expected}"
    ))
}

/// The value at `prefix`, or `None` when the request does not set it.
fn read(
    table: ShapeTable,
    shape_name: &str,
    prefix: &str,
    params: &BTreeMap<String, String>,
) -> Result<Option<Value>, DecodeError> {
    let Some(def) = shape_in(table, shape_name) else {
        return Ok(params.get(prefix).map(|v| Value::String(v.clone())));
    };
    let scalar = params.get(prefix);
    Ok(match *def {
        ShapeDef::String { .. } => scalar.map(|v| Value::String(v.clone())),
        ShapeDef::Integer { .. } => match scalar {
            None => None,
            Some(v) => Some(Value::Number(
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid(prefix, "an integer", v))?
                    .into(),
            )),
        },
        ShapeDef::Double | ShapeDef::Timestamp => match scalar {
            None => None,
            Some(v) => {
                let n = v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .ok_or_else(|| invalid(prefix, "a number", v))?;
                Some(Value::Number(n))
            }
        },
        ShapeDef::Boolean => match scalar.map(|v| v.to_ascii_lowercase()) {
            None => None,
            Some(v) if v == "true" => Some(Value::Bool(true)),
            Some(v) if v == "false" => Some(Value::Bool(false)),
            Some(v) => return Err(invalid(prefix, "a boolean", &v)),
        },
        ShapeDef::Structure { members, .. } => {
            let mut object = Map::new();
            for member in members {
                if let Some(v) = read(table, member.shape, &key(prefix, member.name), params)? {
                    object.insert(member.name.to_string(), v);
                }
            }
            if object.is_empty() && !prefix.is_empty() && !present(prefix, params) {
                None
            } else {
                Some(Value::Object(object))
            }
        }
        ShapeDef::List { member, .. } => {
            if !present(prefix, params) {
                return Ok(None);
            }
            let mut items = Vec::new();
            for n in 1.. {
                let item_key = key(prefix, &format!("member.{n}"));
                match read(table, member, &item_key, params)? {
                    Some(v) => items.push(v),
                    None => break,
                }
            }
            Some(Value::Array(items))
        }
        ShapeDef::Map {
            value: value_shape,
            key_name,
            value_name,
            ..
        } => {
            if !present(prefix, params) {
                return Ok(None);
            }
            let mut object = Map::new();
            for n in 1.. {
                let entry = key(prefix, &format!("entry.{n}"));
                let Some(k) = params.get(&key(&entry, key_name)) else {
                    break;
                };
                let v = read(table, value_shape, &key(&entry, value_name), params)?;
                object.insert(k.clone(), v.unwrap_or(Value::Null));
            }
            Some(Value::Object(object))
        }
    })
}

/// Escapes text for an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// The XML of `value` as the shape `shape_name`: the inside of its element.
pub fn to_xml(table: ShapeTable, shape_name: &str, value: &Value) -> String {
    let mut out = String::new();
    write_xml(table, shape_name, value, &mut out);
    out
}

fn write_xml(table: ShapeTable, shape_name: &str, value: &Value, out: &mut String) {
    let def = shape_in(table, shape_name);
    match (def, value) {
        (_, Value::Null) => {}
        (Some(ShapeDef::Structure { members, .. }), Value::Object(object)) => {
            for member in *members {
                if let Some(v) = object.get(member.name).filter(|v| !v.is_null()) {
                    out.push_str(&format!("<{}>", member.name));
                    write_xml(table, member.shape, v, out);
                    out.push_str(&format!("</{}>", member.name));
                }
            }
        }
        (Some(ShapeDef::List { member, .. }), Value::Array(items)) => {
            for item in items {
                out.push_str("<member>");
                write_xml(table, member, item, out);
                out.push_str("</member>");
            }
        }
        (
            Some(ShapeDef::Map {
                value: value_shape,
                key_name,
                value_name,
                ..
            }),
            Value::Object(entries),
        ) => {
            for (k, v) in entries {
                out.push_str(&format!(
                    "<entry><{key_name}>{}</{key_name}><{value_name}>",
                    escape(k)
                ));
                write_xml(table, value_shape, v, out);
                out.push_str(&format!("</{value_name}></entry>"));
            }
        }
        (_, Value::String(s)) => out.push_str(&escape(s)),
        (_, other) => out.push_str(&escape(&other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Member;

    static SHAPES: &[(&str, ShapeDef)] = &[
        (
            "Attrs",
            ShapeDef::Map {
                key: "S",
                value: "S",
                key_name: "key",
                value_name: "value",
                min: None,
                max: None,
            },
        ),
        (
            "In",
            ShapeDef::Structure {
                members: &[
                    Member {
                        name: "Name",
                        shape: "S",
                        required: true,
                    },
                    Member {
                        name: "Attributes",
                        shape: "Attrs",
                        required: false,
                    },
                    Member {
                        name: "Tags",
                        shape: "Tags",
                        required: false,
                    },
                    Member {
                        name: "Count",
                        shape: "N",
                        required: false,
                    },
                    Member {
                        name: "Flag",
                        shape: "B",
                        required: false,
                    },
                ],
                exception: false,
            },
        ),
        ("B", ShapeDef::Boolean),
        (
            "N",
            ShapeDef::Integer {
                min: None,
                max: None,
            },
        ),
        (
            "S",
            ShapeDef::String {
                min: Some(1),
                max: None,
                pattern: None,
                enum_values: &[],
                sensitive: false,
            },
        ),
        (
            "Tag",
            ShapeDef::Structure {
                members: &[
                    Member {
                        name: "Key",
                        shape: "S",
                        required: true,
                    },
                    Member {
                        name: "Value",
                        shape: "S",
                        required: true,
                    },
                ],
                exception: false,
            },
        ),
        (
            "Tags",
            ShapeDef::List {
                member: "Tag",
                min: None,
                max: None,
            },
        ),
    ];

    fn table() -> ShapeTable {
        let mut sorted: Vec<_> = SHAPES.to_vec();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        Box::leak(sorted.into_boxed_slice())
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn form_parameters_become_maps_lists_and_typed_scalars() {
        let p = params(&[
            ("Name", "t"),
            ("Attributes.entry.1.key", "DisplayName"),
            ("Attributes.entry.1.value", "Shown"),
            ("Attributes.entry.2.key", "Policy"),
            ("Attributes.entry.2.value", "{}"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "web"),
            ("Count", "3"),
            ("Flag", "true"),
        ]);
        let v: Value = decode_params(table(), "In", &p).expect("decodes");
        assert_eq!(
            v,
            serde_json::json!({"Name": "t", "Attributes": {"DisplayName": "Shown", "Policy": "{}"},
                "Tags": [{"Key": "team", "Value": "web"}], "Count": 3, "Flag": true})
        );
    }

    #[test]
    fn a_missing_required_parameter_and_a_bad_integer_are_validation_errors() {
        let missing = decode_params::<Value>(table(), "In", &params(&[]));
        assert!(matches!(missing, Err(DecodeError::Validation(m)) if m.contains("'Name'")));
        let bad = decode_params::<Value>(table(), "In", &params(&[("Name", "a"), ("Count", "x")]));
        assert!(matches!(bad, Err(DecodeError::Validation(m)) if m.contains("Count")));
    }

    #[test]
    fn answers_render_members_entries_and_escaped_text() {
        let v = serde_json::json!({"Name": "a<b", "Attributes": {"k": "v"},
            "Tags": [{"Key": "x", "Value": "y"}]});
        assert_eq!(
            to_xml(table(), "In", &v),
            "<Name>a&lt;b</Name><Attributes><entry><key>k</key><value>v</value></entry></Attributes>\
             <Tags><member><Key>x</Key><Value>y</Value></member></Tags>"
        );
    }
}
