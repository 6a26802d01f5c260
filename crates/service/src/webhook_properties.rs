//! Property tests: a webhook's filters are JSONPath expressions its author writes, applied to
//! the JSON a sender posts; any path against any document selects something or nothing, never
//! a panic.

use crate::webhooks::json_path;
use proptest::prelude::*;

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z0-9/._-]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_path_over_any_document_selects_or_not(doc in json(), path in "[$.a-z0-9\\[\\]*'\"-]{0,40}") {
        let _ = json_path(&doc, &path);
    }

    #[test]
    fn any_text_as_a_path_selects_or_not(path in ".{0,80}") {
        let _ = json_path(&serde_json::json!({"ref": "refs/heads/main", "commits": [{"id": 1}]}), &path);
    }
}
