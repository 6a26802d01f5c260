//! The guide's JSON documents, shared with the conformance suite.

use serde_json::Value;

fn guide(name: &str) -> Value {
    let path = format!(
        "{}/../../conformance/guide/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The "Create a Pipeline (CLI)" request body (`{"pipeline": ...}`).
pub fn create_request() -> Value {
    guide("pipeline.json")
}

/// The guide's pipeline declaration, renamed.
pub fn pipeline(name: &str) -> Value {
    let mut p = create_request()["pipeline"].clone();
    p["name"] = Value::String(name.into());
    p
}

pub fn production_stage() -> Value {
    guide("production-stage.json")
}

pub fn github_source_stage() -> Value {
    guide("github-source-stage.json")
}

pub fn custom_action() -> Value {
    guide("MyCustomAction.json")
}
