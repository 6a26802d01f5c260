//! Generates the wire crate's modules from botocore's models: `generated.rs` (CodePipeline, the
//! crate's root vocabulary) and one module per other service (`connections.rs`, CodeStar
//! connections; `codedeploy.rs`, CodeDeploy; `codecommit.rs`, CodeCommit; `sns.rs`, SNS (Query);
//! `lambda.rs`, Lambda (REST-JSON); `logs.rs`, CloudWatch Logs; `events.rs`, EventBridge), each with its operations, its shape table and typed shapes.
//!
//! The model file is fetched from PyPI (the pinned botocore wheel) into `.botocore/`, which is
//! not committed; neither are its documentation strings. The generated Rust is committed, and
//! `--check` fails when it differs from what the pinned model produces.

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The botocore release whose model the wire crate follows.
pub const BOTOCORE_VERSION: &str = "1.44.8";

/// One service of botocore generated into one module of the wire crate.
struct Service {
    /// `name version`, as the header names it.
    label: &'static str,
    model: &'static str,
    output: &'static str,
    /// Whether the module brings its own `shape` and `decode` (every service but the crate's
    /// root one, whose shapes `crate::shape` and `crate::decode` read).
    own_decoder: bool,
}

const SERVICES: &[Service] = &[
    Service {
        label: "codepipeline 2015-07-09",
        model: "botocore/data/codepipeline/2015-07-09/service-2.json.gz",
        output: "crates/wire/src/generated.rs",
        own_decoder: false,
    },
    Service {
        label: "codestar-connections 2019-12-01",
        model: "botocore/data/codestar-connections/2019-12-01/service-2.json.gz",
        output: "crates/wire/src/connections.rs",
        own_decoder: true,
    },
    Service {
        label: "codedeploy 2014-10-06",
        model: "botocore/data/codedeploy/2014-10-06/service-2.json.gz",
        output: "crates/wire/src/codedeploy.rs",
        own_decoder: true,
    },
    Service {
        label: "codecommit 2015-04-13",
        model: "botocore/data/codecommit/2015-04-13/service-2.json.gz",
        output: "crates/wire/src/codecommit.rs",
        own_decoder: true,
    },
    Service {
        label: "sns 2010-03-31",
        model: "botocore/data/sns/2010-03-31/service-2.json.gz",
        output: "crates/wire/src/sns.rs",
        own_decoder: true,
    },
    Service {
        label: "lambda 2015-03-31",
        model: "botocore/data/lambda/2015-03-31/service-2.json.gz",
        output: "crates/wire/src/lambda.rs",
        own_decoder: true,
    },
    Service {
        label: "logs 2014-03-28",
        model: "botocore/data/logs/2014-03-28/service-2.json.gz",
        output: "crates/wire/src/logs.rs",
        own_decoder: true,
    },
    Service {
        label: "events 2015-10-07",
        model: "botocore/data/events/2015-10-07/service-2.json.gz",
        output: "crates/wire/src/events.rs",
        own_decoder: true,
    },
];

pub fn run(check: bool) -> Result<()> {
    let root = workspace_root();
    for service in SERVICES {
        let model = load_model(&root, service.model)?;
        let code = generate(&model, service)?;
        let code = rustfmt(&code)?;
        let output = service.output;
        let out = root.join(output);
        if check {
            let current = std::fs::read_to_string(&out).unwrap_or_default();
            if current != code {
                bail!("{output} is stale: run `cargo xtask codegen` and commit the result");
            }
            eprintln!("{output} is fresh (botocore {BOTOCORE_VERSION})");
        } else {
            std::fs::write(&out, code)?;
            eprintln!("wrote {output} from botocore {BOTOCORE_VERSION}");
        }
    }
    Ok(())
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn load_model(root: &Path, model_path: &str) -> Result<Value> {
    let dir = root.join(".botocore");
    let wheel = dir.join(format!("botocore-{BOTOCORE_VERSION}-py3-none-any.whl"));
    if !wheel.exists() {
        std::fs::create_dir_all(&dir)?;
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
            .arg(&dir)
            .arg(format!("botocore=={BOTOCORE_VERSION}"))
            .status()
            .context("running pip to fetch the botocore wheel")?;
        if !status.success() {
            bail!("pip download botocore=={BOTOCORE_VERSION} failed");
        }
    }
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel)?)?;
    let mut gz = Vec::new();
    archive.by_name(model_path)?.read_to_end(&mut gz)?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut json)?;
    Ok(serde_json::from_str(&json)?)
}

fn rustfmt(code: &str) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running rustfmt")?;
    child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(code.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("rustfmt failed on generated code");
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .with_context(|| format!("{what} is not an object"))
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    match out.as_str() {
        "type" | "match" | "ref" | "override" | "final" | "box" => format!("r#{out}"),
        _ => out,
    }
}

fn generate(model: &Value, service: &Service) -> Result<String> {
    let shapes = obj(&model["shapes"], "shapes")?;
    let operations = obj(&model["operations"], "operations")?;
    let shapes: BTreeMap<&String, &Value> = shapes.iter().collect();
    let mut s = String::new();
    writeln!(
        s,
        "// @generated by `cargo xtask codegen` from botocore {BOTOCORE_VERSION} \
         ({}). Do not edit by hand.",
        service.label
    )?;
    writeln!(s, "#![allow(clippy::all)]")?;
    writeln!(s, "#![allow(unused_imports)]")?;
    writeln!(s, "use serde::{{Deserialize, Serialize}};")?;
    writeln!(s, "use std::collections::BTreeMap;")?;
    writeln!(s, "use crate::shape::{{Member, ShapeDef}};")?;
    writeln!(
        s,
        "pub const BOTOCORE_VERSION: &str = {BOTOCORE_VERSION:?};"
    )?;
    let metadata = &model["metadata"];
    let query = metadata["protocol"] == "query";
    if query {
        let version = metadata["apiVersion"].as_str().context("apiVersion")?;
        writeln!(s, "/// The Query protocol's `Version` parameter.")?;
        writeln!(s, "pub const API_VERSION: &str = {version:?};")?;
        let namespace = metadata["xmlNamespace"].as_str().context("xmlNamespace")?;
        writeln!(s, "/// The namespace of every XML answer.")?;
        writeln!(s, "pub const XML_NAMESPACE: &str = {namespace:?};")?;
    } else if metadata["protocol"] == "rest-json" {
        writeln!(
            s,
            "/// The REST-JSON protocol: operations are routed by method and path."
        )?;
        writeln!(s, "pub const REST_JSON: bool = true;")?;
    } else {
        let target = metadata["targetPrefix"].as_str().context("targetPrefix")?;
        writeln!(s, "pub const TARGET_PREFIX: &str = {target:?};")?;
        let json_version = metadata["jsonVersion"].as_str().context("jsonVersion")?;
        writeln!(
            s,
            "/// The JSON protocol version: `application/x-amz-json-{{JSON_VERSION}}`."
        )?;
        writeln!(s, "pub const JSON_VERSION: &str = {json_version:?};")?;
    }
    if service.own_decoder {
        writeln!(s, "/// Looks a shape of this service up by its model name.")?;
        writeln!(
            s,
            "pub fn shape(name: &str) -> Option<&'static ShapeDef> {{ crate::shape::shape_in(SHAPES, name) }}"
        )?;
        writeln!(
            s,
            "/// Parses, checks and deserializes `body` as this service's shape `shape_name`."
        )?;
        writeln!(
            s,
            "pub fn decode<T: serde::de::DeserializeOwned>(shape_name: &str, body: &[u8]) -> Result<T, crate::DecodeError> {{ crate::decode::decode_in(SHAPES, shape_name, body) }}"
        )?;
        if query {
            writeln!(
                s,
                "/// Checks and deserializes a Query request's parameters as the shape `shape_name`."
            )?;
            writeln!(
                s,
                "pub fn decode_params<T: serde::de::DeserializeOwned>(shape_name: &str, params: &std::collections::BTreeMap<String, String>) -> Result<T, crate::DecodeError> {{ crate::query::decode_params(SHAPES, shape_name, params) }}"
            )?;
        }
    }

    // The operation enum.
    writeln!(s, "/// Every operation of the model.")?;
    writeln!(
        s,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]"
    )?;
    writeln!(s, "pub enum Operation {{")?;
    for name in operations.keys() {
        writeln!(s, "    {name},")?;
    }
    writeln!(s, "}}")?;
    writeln!(s, "impl Operation {{")?;
    writeln!(s, "pub const ALL: &'static [Operation] = &[")?;
    for name in operations.keys() {
        writeln!(s, "Operation::{name},")?;
    }
    writeln!(s, "];")?;
    writeln!(s, "pub fn name(self) -> &'static str {{ match self {{")?;
    for name in operations.keys() {
        writeln!(s, "Operation::{name} => {name:?},")?;
    }
    writeln!(s, "}} }}")?;
    writeln!(
        s,
        "pub fn from_name(name: &str) -> Option<Operation> {{ match name {{"
    )?;
    for name in operations.keys() {
        writeln!(s, "{name:?} => Some(Operation::{name}),")?;
    }
    writeln!(s, "_ => None, }} }}")?;
    for (func, key) in [("input_shape", "input"), ("output_shape", "output")] {
        writeln!(
            s,
            "pub fn {func}(self) -> Option<&'static str> {{ match self {{"
        )?;
        for (name, op) in operations {
            match op[key]["shape"].as_str() {
                Some(shape) => writeln!(s, "Operation::{name} => Some({shape:?}),")?,
                None => writeln!(s, "Operation::{name} => None,")?,
            }
        }
        writeln!(s, "}} }}")?;
    }
    if query {
        writeln!(
            s,
            "/// The element an answer's fields are wrapped in (`<CreateTopicResult>`)."
        )?;
        writeln!(
            s,
            "pub fn result_wrapper(self) -> Option<&'static str> {{ match self {{"
        )?;
        for (name, op) in operations {
            match op["output"]["resultWrapper"].as_str() {
                Some(wrapper) => writeln!(s, "Operation::{name} => Some({wrapper:?}),")?,
                None => writeln!(s, "Operation::{name} => None,")?,
            }
        }
        writeln!(s, "}} }}")?;
    }
    if metadata["protocol"] == "rest-json" {
        writeln!(
            s,
            "/// The HTTP method, the request URI template and the success status."
        )?;
        writeln!(
            s,
            "pub fn http(self) -> (&'static str, &'static str, u16) {{ match self {{"
        )?;
        for (name, op) in operations {
            let method = op["http"]["method"].as_str().context("http method")?;
            let uri = op["http"]["requestUri"].as_str().context("requestUri")?;
            let code = op["http"]["responseCode"].as_u64().unwrap_or(200);
            writeln!(s, "Operation::{name} => ({method:?}, {uri:?}, {code}),")?;
        }
        writeln!(s, "}} }}")?;
    }
    writeln!(s, "/// The error codes the model lists for this operation.")?;
    writeln!(
        s,
        "pub fn errors(self) -> &'static [&'static str] {{ match self {{"
    )?;
    for (name, op) in operations {
        let errs: Vec<String> = op["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["shape"].as_str())
                    .map(|e| format!("{e:?}"))
                    .collect()
            })
            .unwrap_or_default();
        writeln!(s, "Operation::{name} => &[{}],", errs.join(", "))?;
    }
    writeln!(s, "}} }}")?;
    writeln!(s, "}}")?;

    // The shape table, sorted by name for binary search.
    writeln!(s, "/// Every shape of the model, sorted by name.")?;
    writeln!(s, "pub static SHAPES: &[(&str, ShapeDef)] = &[")?;
    for (name, shape) in &shapes {
        writeln!(s, "({name:?}, {}),", shape_def(shape)?)?;
    }
    writeln!(s, "];")?;

    if metadata["protocol"] == "rest-json" {
        // Where each bound member travels: (shape, member, location, name on the wire).
        writeln!(
            s,
            "/// Members that travel outside the JSON body: (shape, member, `uri` | `querystring` | `header` | `statusCode`, wire name), sorted."
        )?;
        writeln!(s, "pub static BINDINGS: &[(&str, &str, &str, &str)] = &[")?;
        for (name, shape) in &shapes {
            let Some(members) = shape["members"].as_object() else {
                continue;
            };
            for (member, def) in members {
                if let Some(location) = def["location"].as_str() {
                    let wire = def["locationName"].as_str().unwrap_or(member);
                    writeln!(s, "({name:?}, {member:?}, {location:?}, {wire:?}),")?;
                }
            }
        }
        writeln!(s, "];")?;
        writeln!(
            s,
            "/// Structures whose one member is the whole body: (shape, member), sorted."
        )?;
        writeln!(s, "pub static PAYLOADS: &[(&str, &str)] = &[")?;
        for (name, shape) in &shapes {
            if let Some(payload) = shape["payload"].as_str() {
                writeln!(s, "({name:?}, {payload:?}),")?;
            }
        }
        writeln!(s, "];")?;
    }

    // Serde types for every non-exception structure.
    for (name, shape) in &shapes {
        if shape["type"] != "structure" || shape.get("exception").is_some() {
            continue;
        }
        let members = obj(&shape["members"], name)?;
        let required: Vec<&str> = shape["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        writeln!(
            s,
            "#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]"
        )?;
        writeln!(s, "pub struct {} {{", type_name(name))?;
        for (member, def) in members {
            let target = def["shape"].as_str().context("member shape")?;
            let mut ty = rust_type(&shapes, target)?;
            // A structure holding itself (CloudWatch Logs' LogFieldType) needs a box.
            if ty == type_name(name) {
                ty = format!("Box<{ty}>");
            }
            let field = snake(member);
            if required.contains(&member.as_str()) {
                writeln!(s, "#[serde(rename = {member:?})]")?;
                writeln!(s, "pub {field}: {ty},")?;
            } else {
                writeln!(
                    s,
                    "#[serde(rename = {member:?}, default, skip_serializing_if = \"Option::is_none\")]"
                )?;
                writeln!(s, "pub {field}: Option<{ty}>,")?;
            }
        }
        writeln!(s, "}}")?;
    }
    Ok(s)
}

/// The Rust name of a structure shape: its model name, unless that is taken by the generated
/// `Operation` enum (Lambda has a shape called `Operation`).
fn type_name(name: &str) -> String {
    if name == "Operation" {
        "OperationShape".into()
    } else {
        name.to_string()
    }
}

fn rust_type(shapes: &BTreeMap<&String, &Value>, name: &str) -> Result<String> {
    let shape = shapes
        .get(&name.to_string())
        .with_context(|| format!("unknown shape {name}"))?;
    Ok(match shape["type"].as_str().unwrap_or_default() {
        "string" | "blob" => "String".into(),
        "integer" | "long" => "i64".into(),
        "boolean" => "bool".into(),
        "timestamp" | "double" | "float" => "f64".into(),
        // An exception carried inside an event stream has no type of its own here.
        "structure" if shape.get("exception").is_some() => "serde_json::Value".into(),
        "structure" => type_name(name),
        "list" => format!(
            "Vec<{}>",
            rust_type(
                shapes,
                shape["member"]["shape"].as_str().context("list member")?
            )?
        ),
        "map" => format!(
            "BTreeMap<String, {}>",
            rust_type(
                shapes,
                shape["value"]["shape"].as_str().context("map value")?
            )?
        ),
        other => bail!("shape {name} has unsupported type {other}"),
    })
}

fn opt_num(v: &Value) -> String {
    match v.as_i64() {
        Some(n) => format!("Some({n})"),
        None => "None".into(),
    }
}

fn shape_def(shape: &Value) -> Result<String> {
    let min = opt_num(&shape["min"]);
    let max = opt_num(&shape["max"]);
    Ok(match shape["type"].as_str().unwrap_or_default() {
        "string" | "blob" => {
            let pattern = match shape["pattern"].as_str() {
                Some(p) => format!("Some({p:?})"),
                None => "None".into(),
            };
            let values: Vec<String> = shape["enum"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|e| format!("{e:?}"))
                        .collect()
                })
                .unwrap_or_default();
            let sensitive = shape["sensitive"].as_bool().unwrap_or(false);
            format!(
                "ShapeDef::String {{ min: {min}, max: {max}, pattern: {pattern}, enum_values: &[{}], sensitive: {sensitive} }}",
                values.join(", ")
            )
        }
        "integer" | "long" => format!("ShapeDef::Integer {{ min: {min}, max: {max} }}"),
        "boolean" => "ShapeDef::Boolean".into(),
        "timestamp" => "ShapeDef::Timestamp".into(),
        "double" | "float" => "ShapeDef::Double".into(),
        "list" => format!(
            "ShapeDef::List {{ member: {:?}, min: {min}, max: {max} }}",
            shape["member"]["shape"].as_str().context("list member")?
        ),
        "map" => format!(
            "ShapeDef::Map {{ key: {:?}, value: {:?}, key_name: {:?}, value_name: {:?}, min: {min}, max: {max} }}",
            shape["key"]["shape"].as_str().context("map key")?,
            shape["value"]["shape"].as_str().context("map value")?,
            shape["key"]["locationName"].as_str().unwrap_or("key"),
            shape["value"]["locationName"].as_str().unwrap_or("value"),
        ),
        "structure" => {
            let members = obj(&shape["members"], "members")?;
            let required: Vec<&str> = shape["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let ms: Vec<String> = members
                .iter()
                .map(|(m, d)| {
                    format!(
                        "Member {{ name: {m:?}, shape: {:?}, required: {} }}",
                        d["shape"].as_str().unwrap_or_default(),
                        required.contains(&m.as_str())
                    )
                })
                .collect();
            let exception = shape.get("exception").is_some();
            format!(
                "ShapeDef::Structure {{ members: &[{}], exception: {exception} }}",
                ms.join(", ")
            )
        }
        other => bail!("unsupported shape type {other}"),
    })
}
