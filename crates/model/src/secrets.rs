//! Secret configuration values: masked on every read, and carried over on update when the
//! author sends the mask back for an action whose stage and action names are unchanged — the
//! guide's rule for editing a pipeline with an OAuth token.

use crate::action_type::ActionType;

/// A value that must never be printed: `Debug` shows `REDACTED`, there is no `Display`, and
/// the text is reached only through `expose`, so a secret cannot slip into a log by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("REDACTED")
    }
}
use crate::declaration::PipelineDeclaration;
use crate::validate::{Problem, ProblemKind};
use crate::SECRET_MASK;

fn action_type<'a>(types: &'a [ActionType], id: &crate::ActionTypeId) -> Option<&'a ActionType> {
    types.iter().find(|t| &t.id == id)
}

/// A copy of `pipeline` with every secret configuration value replaced by `****`.
pub fn mask(pipeline: &PipelineDeclaration, types: &[ActionType]) -> PipelineDeclaration {
    let mut masked = pipeline.clone();
    for stage in &mut masked.stages {
        for action in &mut stage.actions {
            let Some(t) = action_type(types, &action.action_type_id) else {
                continue;
            };
            for (name, value) in action.configuration.iter_mut() {
                if t.is_secret(name) {
                    *value = SECRET_MASK.to_string();
                }
            }
        }
    }
    masked
}

/// Replaces each `****` secret in `updated` by the value stored in `previous` for the same
/// stage, action and property. A masked secret with no such stored value is a problem.
pub fn carry_over(
    updated: &mut PipelineDeclaration,
    previous: &PipelineDeclaration,
    types: &[ActionType],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for stage in &mut updated.stages {
        for action in &mut stage.actions {
            let Some(t) = action_type(types, &action.action_type_id) else {
                continue;
            };
            for (name, value) in action.configuration.iter_mut() {
                if !t.is_secret(name) || value != SECRET_MASK {
                    continue;
                }
                let stored = previous
                    .stage(&stage.name)
                    .and_then(|s| s.actions.iter().find(|a| a.name == action.name))
                    .filter(|a| a.action_type_id == action.action_type_id)
                    .and_then(|a| a.configuration.get(name));
                match stored {
                    Some(v) => *value = v.clone(),
                    None => problems.push(Problem {
                        kind: ProblemKind::Action,
                        message: format!(
                            "Action '{}' in stage '{}': the secret configuration '{name}' is masked ('{SECRET_MASK}') but no stored value exists for this stage and action name; supply the value again",
                            action.name, stage.name
                        ),
                    }),
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_as_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "REDACTED");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(REDACTED)");
        assert_eq!(s.expose(), "hunter2");
    }
    use crate::catalog::built_in_action_types;
    use crate::declaration::{ActionDeclaration, StageDeclaration};
    use crate::ActionTypeId;

    fn with_github(stage: &str, action: &str, token: &str) -> PipelineDeclaration {
        PipelineDeclaration {
            stages: vec![StageDeclaration {
                name: stage.into(),
                blockers: vec![],
                on_failure: None,
                actions: vec![ActionDeclaration {
                    name: action.into(),
                    action_type_id: ActionTypeId::new("Source", "ThirdParty", "GitHub", "1"),
                    run_order: 1,
                    configuration: [
                        ("Owner".to_string(), "o".to_string()),
                        ("OAuthToken".to_string(), token.to_string()),
                    ]
                    .into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn secrets_are_masked_on_read() {
        let masked = mask(
            &with_github("Source", "GH", "ghp_secret"),
            &built_in_action_types(),
        );
        let config = &masked.stages[0].actions[0].configuration;
        assert_eq!(config["OAuthToken"], "****");
        assert_eq!(config["Owner"], "o");
    }

    #[test]
    fn masked_secret_is_kept_when_stage_and_action_names_are_unchanged() {
        let previous = with_github("Source", "GH", "ghp_secret");
        let mut updated = with_github("Source", "GH", "****");
        assert!(carry_over(&mut updated, &previous, &built_in_action_types()).is_empty());
        assert_eq!(
            updated.stages[0].actions[0].configuration["OAuthToken"],
            "ghp_secret"
        );
    }

    #[test]
    fn renamed_action_or_stage_must_supply_the_secret_again() {
        let previous = with_github("Source", "GH", "ghp_secret");
        for (stage, action) in [("Source", "Renamed"), ("Renamed", "GH")] {
            let mut updated = with_github(stage, action, "****");
            let problems = carry_over(&mut updated, &previous, &built_in_action_types());
            assert_eq!(problems.len(), 1);
            assert!(problems[0].message.contains("supply the value again"));
        }
    }
}
