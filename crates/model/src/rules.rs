//! The rule types of stage conditions this server runs (`ListRuleTypes`), how a rule
//! declaration is checked, and the `VariableCheck` comparison.

use crate::cron::DeploymentWindow;
use crate::declaration::{RuleDeclaration, RuleTypeId};

pub const VARIABLE_CHECK: &str = "VariableCheck";
pub const DEPLOYMENT_WINDOW: &str = "DeploymentWindow";
pub const COMMANDS: &str = "Commands";

/// A configuration property of a rule type.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleProperty {
    pub name: &'static str,
    pub required: bool,
    pub description: &'static str,
}

/// A rule type this server evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleType {
    pub id: RuleTypeId,
    pub properties: Vec<RuleProperty>,
    pub min_inputs: i64,
    pub max_inputs: i64,
}

fn id(provider: &str) -> RuleTypeId {
    RuleTypeId {
        category: "Rule".into(),
        owner: "AWS".into(),
        provider: provider.into(),
        version: "1".into(),
    }
}

/// Every rule type this server runs.
pub fn catalog() -> Vec<RuleType> {
    let property = |name, required, description| RuleProperty {
        name,
        required,
        description,
    };
    vec![
        RuleType {
            id: id(COMMANDS),
            properties: Vec::new(),
            // The commands run in the first input, as the Commands action's do.
            min_inputs: 1,
            max_inputs: 10,
        },
        RuleType {
            id: id(DEPLOYMENT_WINDOW),
            properties: vec![
                property(
                    "Cron",
                    true,
                    "When deployments are allowed: a cron expression of 6 or 7 fields",
                ),
                property(
                    "TimeZone",
                    false,
                    "The IANA time zone the expression is read in (UTC when absent)",
                ),
            ],
            min_inputs: 0,
            max_inputs: 0,
        },
        RuleType {
            id: id(VARIABLE_CHECK),
            properties: vec![
                property(
                    "Variable",
                    true,
                    "The variable to check, as #{namespace.name}",
                ),
                property("Value", true, "The value to check it against"),
                property(
                    "Operator",
                    true,
                    "EQ, NE, CONTAINS or MATCHES (a regular expression)",
                ),
            ],
            min_inputs: 0,
            max_inputs: 0,
        },
    ]
}

/// Rule providers AWS has that this server does not run, with why.
fn not_available(provider: &str) -> Option<&'static str> {
    match provider {
        "LambdaInvoke" => Some("this server has no Lambda functions yet"),
        "CloudWatchAlarm" => Some("this server has no CloudWatch alarms"),
        "CodeBuild" => {
            Some("use the Commands rule, which runs its commands in this server's build sandbox")
        }
        _ => None,
    }
}

/// What is wrong with `rule`'s type and configuration, if anything (variable references are
/// checked with the pipeline's other references).
pub fn check_rule(rule: &RuleDeclaration) -> Vec<String> {
    let mut problems = Vec::new();
    let t = &rule.rule_type_id;
    let Some(known) = catalog().into_iter().find(|k| &k.id == t) else {
        let why = not_available(&t.provider)
            .map(|why| format!(": {why}"))
            .unwrap_or_default();
        problems.push(format!(
            "Rule '{}' has rule type {t}, which this server does not run{why}; available: Rule/AWS/{{Commands, DeploymentWindow, VariableCheck}}/1",
            rule.name
        ));
        return problems;
    };
    for key in rule.configuration.keys() {
        if !known.properties.iter().any(|p| p.name == key) {
            problems.push(format!(
                "Rule '{}' ({}) has no configuration property '{key}'",
                rule.name, t.provider
            ));
        }
    }
    for property in known.properties.iter().filter(|p| p.required) {
        if !rule.configuration.contains_key(property.name) {
            problems.push(format!(
                "Rule '{}' ({}) needs the configuration property '{}'",
                rule.name, t.provider, property.name
            ));
        }
    }
    let inputs = rule.input_artifacts.len() as i64;
    if inputs < known.min_inputs || inputs > known.max_inputs {
        problems.push(format!(
            "Rule '{}' ({}) takes {}-{} input artifacts, not {inputs}",
            rule.name, t.provider, known.min_inputs, known.max_inputs
        ));
    }
    if t.provider == COMMANDS {
        if rule.commands.is_empty() {
            problems.push(format!("Commands rule '{}' needs commands", rule.name));
        }
    } else if !rule.commands.is_empty() {
        problems.push(format!(
            "Rule '{}' ({}) does not take commands; only the Commands rule runs them",
            rule.name, t.provider
        ));
    }
    let config = |key: &str| rule.configuration.get(key).map(String::as_str);
    match t.provider.as_str() {
        DEPLOYMENT_WINDOW => {
            if let Some(cron) = config("Cron") {
                if let Err(e) = DeploymentWindow::parse(cron, config("TimeZone")) {
                    problems.push(format!("Rule '{}': {e}", rule.name));
                }
            }
        }
        VARIABLE_CHECK => match config("Operator") {
            Some("EQ" | "NE" | "CONTAINS") | None => {}
            Some("MATCHES") => {
                let pattern = config("Value").unwrap_or_default();
                // A pattern with variable references is compiled when the rule runs.
                if !pattern.contains("#{") {
                    if let Err(e) = regex::Regex::new(pattern) {
                        problems.push(format!(
                            "Rule '{}': Value '{pattern}' is not a valid regular expression: {e}",
                            rule.name
                        ));
                    }
                }
            }
            Some(other) => problems.push(format!(
                "Rule '{}': Operator '{other}' is not one of EQ, NE, CONTAINS, MATCHES",
                rule.name
            )),
        },
        _ => {}
    }
    problems
}

/// Whether a `VariableCheck` holds: the variable's value compared with `value` by `operator`.
pub fn variable_check(variable: &str, operator: &str, value: &str) -> Result<bool, String> {
    match operator {
        "EQ" => Ok(variable == value),
        "NE" => Ok(variable != value),
        "CONTAINS" => Ok(variable.contains(value)),
        "MATCHES" => regex::Regex::new(&format!("^(?:{value})$"))
            .map(|pattern| pattern.is_match(variable))
            .map_err(|e| format!("'{value}' is not a valid regular expression: {e}")),
        other => Err(format!(
            "Operator '{other}' is not one of EQ, NE, CONTAINS, MATCHES"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_check_compares_as_its_operator_says() {
        assert_eq!(variable_check("main", "EQ", "main"), Ok(true));
        assert_eq!(variable_check("main", "NE", "main"), Ok(false));
        assert_eq!(
            variable_check("release/1.2", "CONTAINS", "release"),
            Ok(true)
        );
        // MATCHES is a whole-value match, as Java's String.matches is.
        assert_eq!(
            variable_check("release/1.2", "MATCHES", "release/.*"),
            Ok(true)
        );
        assert_eq!(
            variable_check("my-release/1.2", "MATCHES", "release/.*"),
            Ok(false)
        );
        assert!(variable_check("x", "MATCHES", "(").is_err());
    }

    #[test]
    fn rules_this_server_cannot_run_are_refused_naming_why() {
        let rule = RuleDeclaration {
            name: "Alarm".into(),
            rule_type_id: id("LambdaInvoke"),
            ..Default::default()
        };
        let problems = check_rule(&rule);
        assert!(problems[0].contains("no Lambda functions"), "{problems:?}");
    }
}
