//! Property tests: request bodies are untrusted; decoding any bytes, or any JSON, against any
//! input shape of the model gives a value or a serialization/validation error, never a panic.

use crate::decode::decode;
use proptest::prelude::*;

const SHAPES: &[&str] = &[
    "CreatePipelineInput",
    "UpdatePipelineInput",
    "PutJobSuccessResultInput",
    "PollForJobsInput",
    "StartPipelineExecutionInput",
    "PutWebhookInput",
    "ListActionExecutionsInput",
];

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(5, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("pipeline".to_string()),
                    Just("name".to_string()),
                    Just("stages".to_string()),
                    Just("actions".to_string()),
                    Just("actionTypeId".to_string()),
                    Just("configuration".to_string()),
                    Just("jobId".to_string()),
                    Just("maxBatchSize".to_string()),
                    "[a-zA-Z]{1,10}",
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
    fn any_bytes_decode_or_are_refused(body in prop::collection::vec(any::<u8>(), 0..400), shape in prop::sample::select(SHAPES)) {
        let _ = decode::<serde_json::Value>(shape, &body);
    }

    #[test]
    fn any_json_decodes_or_is_refused(value in json(), shape in prop::sample::select(SHAPES)) {
        let _ = decode::<serde_json::Value>(shape, value.to_string().as_bytes());
    }
}
