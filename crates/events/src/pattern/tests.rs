//! One table per rule of AWS's "Content filtering in Amazon EventBridge event patterns".

use super::*;
use serde_json::json;

fn event() -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline",
        "account": "111122223333",
        "region": "us-east-1",
        "resources": ["arn:aws:codepipeline:us-east-1:111122223333:MyPipeline"],
        "detail": {
            "pipeline": "MyPipeline",
            "state": "SUCCEEDED",
            "version": 3,
            "execution-id": "01234567-0123-0123-0123-012345678901",
            "source-ip": "10.0.0.123",
            "tags": ["blue", "green"],
            "nothing": null
        }
    })
}

fn check(table: &[(&str, bool)]) {
    for (pattern, expected) in table {
        let parsed = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert_eq!(parsed.matches(&event()), *expected, "{pattern}");
    }
}

#[test]
fn literal_values_match_exactly_and_any_listed_value_will_do() {
    check(&[
        (r#"{"source": ["aws.codepipeline"]}"#, true),
        (r#"{"source": ["aws.codebuild"]}"#, false),
        (r#"{"source": ["aws.codebuild", "aws.codepipeline"]}"#, true),
        (r#"{"detail": {"state": ["SUCCEEDED"]}}"#, true),
        (r#"{"detail": {"state": ["succeeded"]}}"#, false),
        (r#"{"detail": {"version": [3]}}"#, true),
        (r#"{"detail": {"version": [3.0]}}"#, true),
        (r#"{"detail": {"version": ["3"]}}"#, false),
        (r#"{"detail": {"nothing": [null]}}"#, true),
        (r#"{"detail": {"missing": [null]}}"#, false),
    ]);
}

#[test]
fn every_named_field_must_match() {
    check(&[
        (
            r#"{"source": ["aws.codepipeline"], "detail": {"state": ["SUCCEEDED"]}}"#,
            true,
        ),
        (
            r#"{"source": ["aws.codepipeline"], "detail": {"state": ["FAILED"]}}"#,
            false,
        ),
        (r#"{"detail": {"absent": ["x"]}}"#, false),
    ]);
}

#[test]
fn an_array_in_the_event_matches_when_any_element_does() {
    check(&[
        (r#"{"detail": {"tags": ["green"]}}"#, true),
        (r#"{"detail": {"tags": ["red"]}}"#, false),
        (
            r#"{"resources": [{"prefix": "arn:aws:codepipeline:"}]}"#,
            true,
        ),
    ]);
}

#[test]
fn prefix_suffix_wildcard_and_case_insensitive_text() {
    check(&[
        (r#"{"source": [{"prefix": "aws."}]}"#, true),
        (r#"{"source": [{"prefix": "AWS."}]}"#, false),
        (
            r#"{"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}"#,
            true,
        ),
        (r#"{"source": [{"suffix": "pipeline"}]}"#, true),
        (
            r#"{"source": [{"suffix": {"equals-ignore-case": "PIPELINE"}}]}"#,
            true,
        ),
        (
            r#"{"detail": {"state": [{"equals-ignore-case": "succeeded"}]}}"#,
            true,
        ),
        (
            r#"{"detail-type": [{"wildcard": "CodePipeline * State Change"}]}"#,
            true,
        ),
        (
            r#"{"detail-type": [{"wildcard": "CodePipeline*Stage*"}]}"#,
            false,
        ),
        (r#"{"source": [{"wildcard": "aws.*"}]}"#, true),
        (r#"{"source": [{"wildcard": "aws.codepipeline"}]}"#, true),
        (r#"{"detail": {"version": [{"prefix": "3"}]}}"#, false),
    ]);
}

#[test]
fn anything_but_matches_any_other_value_of_a_present_field() {
    check(&[
        (
            r#"{"detail": {"state": [{"anything-but": "FAILED"}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"state": [{"anything-but": ["FAILED", "SUCCEEDED"]}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"state": [{"anything-but": {"prefix": "SUCC"}}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"state": [{"anything-but": {"suffix": "ED"}}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"state": [{"anything-but": {"equals-ignore-case": "failed"}}]}}"#,
            true,
        ),
        (r#"{"detail": {"version": [{"anything-but": 4}]}}"#, true),
        (r#"{"detail": {"absent": [{"anything-but": "x"}]}}"#, false),
    ]);
}

#[test]
fn numeric_ranges_compare_numbers_only() {
    check(&[
        (r#"{"detail": {"version": [{"numeric": [">", 2]}]}}"#, true),
        (
            r#"{"detail": {"version": [{"numeric": [">", 0, "<=", 3]}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"version": [{"numeric": [">", 3, "<", 10]}]}}"#,
            false,
        ),
        (r#"{"detail": {"version": [{"numeric": ["=", 3]}]}}"#, true),
        (r#"{"detail": {"state": [{"numeric": [">", 0]}]}}"#, false),
    ]);
}

#[test]
fn exists_asks_whether_a_leaf_field_is_there() {
    check(&[
        (r#"{"detail": {"state": [{"exists": true}]}}"#, true),
        (r#"{"detail": {"state": [{"exists": false}]}}"#, false),
        (r#"{"detail": {"absent": [{"exists": false}]}}"#, true),
        (r#"{"detail": {"absent": [{"exists": true}]}}"#, false),
        (r#"{"nowhere": {"absent": [{"exists": false}]}}"#, true),
    ]);
}

#[test]
fn cidr_matches_ipv4_addresses_in_the_block() {
    check(&[
        (
            r#"{"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}"#,
            false,
        ),
    ]);
}

#[test]
fn or_needs_one_alternative_to_match() {
    check(&[
        (
            r#"{"source": ["aws.codepipeline"], "$or": [{"detail": {"state": ["FAILED"]}}, {"detail": {"version": [3]}}]}"#,
            true,
        ),
        (
            r#"{"$or": [{"detail": {"state": ["FAILED"]}}, {"detail": {"version": [4]}}]}"#,
            false,
        ),
    ]);
}

#[test]
fn malformed_patterns_are_refused_with_a_reason() {
    for (pattern, reason) in [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ("{}", "at least one field"),
        (
            r#"{"source": "aws.codepipeline"}"#,
            "must be an object or an array",
        ),
        (r#"{"source": []}"#, "Empty arrays"),
        (
            r#"{"source": [{"regex": "a"}]}"#,
            "Unrecognized match type regex",
        ),
        (r#"{"source": [{"prefix": 1}]}"#, "must be a string"),
        (r#"{"a": [{"numeric": [">", "x"]}]}"#, "must be numeric"),
        (
            r#"{"a": [{"numeric": ["<", 1, ">", 5]}]}"#,
            "Bad numeric range",
        ),
        (r#"{"a": [{"exists": "yes"}]}"#, "either true or false"),
        (r#"{"a": [{"wildcard": "a**b"}]}"#, "Consecutive wildcard"),
        (r#"{"a": [{"cidr": "10.0.0.0"}]}"#, "Malformed CIDR"),
        (r#"{"$or": [{"a": ["x"]}]}"#, "at least 2"),
        (r#"{"a": [["nested"]]}"#, "Match value must be"),
    ] {
        let error = Pattern::parse(pattern).expect_err(pattern).to_string();
        assert!(
            error.starts_with("Event pattern is not valid. Reason: "),
            "{error}"
        );
        assert!(error.contains(reason), "{pattern}: {error}");
    }
}
