//! `docs/compatibility.md` has a row for every operation of the model, and its status agrees
//! with what the dispatcher implements.

use sluice_wire::Operation;

#[test]
fn compatibility_doc_lists_every_operation_with_its_true_status() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let doc = std::fs::read_to_string(path).expect("docs/compatibility.md");
    for op in Operation::ALL {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", op.name())))
            .unwrap_or_else(|| panic!("docs/compatibility.md has no row for {}", op.name()));
        let implemented = sluice_api::IMPLEMENTED.contains(op);
        let says = row.contains("| implemented |");
        assert_eq!(says, implemented, "row for {} says {row:?}", op.name());
    }
}

#[test]
fn compatibility_doc_names_every_iam_and_sts_operation_answered() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let doc = std::fs::read_to_string(path).expect("docs/compatibility.md");
    for op in sluice_api::IAM_OPERATIONS
        .iter()
        .chain(sluice_api::STS_OPERATIONS)
    {
        assert!(
            doc.contains(&format!("`{op}`")),
            "docs/compatibility.md does not name {op}"
        );
    }
}

#[test]
fn compatibility_doc_lists_every_connections_operation_with_its_true_status() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let doc = std::fs::read_to_string(path).expect("docs/compatibility.md");
    for op in sluice_wire::connections::Operation::ALL {
        let name = format!("codestar-connections:{}", op.name());
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/compatibility.md has no row for {name}"));
        let implemented = sluice_api::CONNECTIONS_IMPLEMENTED.contains(op);
        let says = row.contains("| implemented |");
        assert_eq!(says, implemented, "row for {name} says {row:?}");
    }
}

#[test]
fn compatibility_doc_lists_every_codedeploy_operation_with_its_true_status() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let doc = std::fs::read_to_string(path).expect("docs/compatibility.md");
    for op in sluice_wire::codedeploy::Operation::ALL {
        let name = format!("codedeploy:{}", op.name());
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/compatibility.md has no row for {name}"));
        let implemented = sluice_api::CODEDEPLOY_IMPLEMENTED.contains(op);
        let says = row.contains("| implemented |");
        assert_eq!(says, implemented, "row for {name} says {row:?}");
    }
    for op in sluice_wire::codedeploy_commands::Operation::ALL {
        let name = format!("codedeploy-commands:{}", op.name());
        assert!(
            doc.lines()
                .any(|l| l.starts_with(&format!("| `{name}` | implemented |"))),
            "docs/compatibility.md does not list {name} as implemented"
        );
    }
}

#[test]
fn compatibility_doc_lists_every_codecommit_operation_with_its_true_status() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let doc = std::fs::read_to_string(path).expect("docs/compatibility.md");
    for op in sluice_wire::codecommit::Operation::ALL {
        let name = format!("codecommit:{}", op.name());
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/compatibility.md has no row for {name}"));
        let implemented = sluice_api::CODECOMMIT_IMPLEMENTED.contains(op);
        let says = row.contains("| implemented |");
        assert_eq!(says, implemented, "row for {name} says {row:?}");
    }
}

fn check_service_rows(service: &str, all: &[(&str, bool)]) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/compatibility.md");
    let doc = std::fs::read_to_string(path).expect("docs/compatibility.md");
    for (op, implemented) in all {
        let name = format!("{service}:{op}");
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/compatibility.md has no row for {name}"));
        let says = row.contains("| implemented |");
        assert_eq!(says, *implemented, "row for {name} says {row:?}");
    }
}

#[test]
fn compatibility_doc_lists_every_sns_operation_with_its_true_status() {
    let all: Vec<(&str, bool)> = sluice_wire::sns::Operation::ALL
        .iter()
        .map(|op| (op.name(), sluice_api::SNS_IMPLEMENTED.contains(op)))
        .collect();
    check_service_rows("sns", &all);
}

#[test]
fn compatibility_doc_lists_every_eventbridge_operation_with_its_true_status() {
    let all: Vec<(&str, bool)> = sluice_wire::events::Operation::ALL
        .iter()
        .map(|op| (op.name(), sluice_api::EVENTS_IMPLEMENTED.contains(op)))
        .collect();
    check_service_rows("events", &all);
}

#[test]
fn compatibility_doc_lists_every_lambda_operation_with_its_true_status() {
    let all: Vec<(&str, bool)> = sluice_wire::lambda::Operation::ALL
        .iter()
        .map(|op| (op.name(), sluice_api::LAMBDA_IMPLEMENTED.contains(op)))
        .collect();
    check_service_rows("lambda", &all);
}

#[test]
fn compatibility_doc_lists_every_logs_operation_with_its_true_status() {
    let all: Vec<(&str, bool)> = sluice_wire::logs::Operation::ALL
        .iter()
        .map(|op| (op.name(), sluice_api::LOGS_IMPLEMENTED.contains(op)))
        .collect();
    check_service_rows("logs", &all);
}
