//! Property tests: policy documents come from users; any text, and any JSON, is parsed into a
//! policy or refused as malformed, never a panic.

use crate::document::Policy as PolicyDocument;
use proptest::prelude::*;

/// JSON values of bounded depth and size.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[A-Za-z0-9:*?/${}._-]{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("Version".to_string()),
                    Just("Statement".to_string()),
                    Just("Effect".to_string()),
                    Just("Action".to_string()),
                    Just("NotAction".to_string()),
                    Just("Resource".to_string()),
                    Just("Principal".to_string()),
                    Just("Condition".to_string()),
                    "[A-Za-z:]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_text_is_a_policy_or_malformed(text in ".{0,300}") {
        let _ = PolicyDocument::parse(&text);
        let _ = PolicyDocument::parse_trust(&text);
    }

    #[test]
    fn any_json_is_a_policy_or_malformed(value in json()) {
        let text = value.to_string();
        let _ = PolicyDocument::parse(&text);
        let _ = PolicyDocument::parse_trust(&text);
    }
}
