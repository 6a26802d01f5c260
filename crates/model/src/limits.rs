//! Structural limits. Defaults are today's CodePipeline limits; a server may configure others.

/// Every configurable bound on what may be declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub min_stages_per_pipeline: usize,
    pub max_stages_per_pipeline: usize,
    pub min_actions_per_stage: usize,
    pub max_actions_per_stage: usize,
    pub max_run_order: i64,
    pub max_pipelines_per_account: usize,
    pub max_custom_action_types_per_account: usize,
    pub max_tags_per_resource: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_stages_per_pipeline: 2,
            max_stages_per_pipeline: 50,
            min_actions_per_stage: 1,
            max_actions_per_stage: 50,
            max_run_order: 999,
            max_pipelines_per_account: 1000,
            max_custom_action_types_per_account: 50,
            max_tags_per_resource: 50,
        }
    }
}
