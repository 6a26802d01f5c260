//! One function per implemented operation: typed wire input in, typed wire output out.

use crate::convert::*;
use crate::ApiError;
use sluice_model as m;
use sluice_service::{Caller, Sluice, TransitionDirection};
use sluice_wire as w;

type R<T> = Result<T, ApiError>;

pub async fn create_pipeline(s: &Sluice, i: w::CreatePipelineInput) -> R<w::CreatePipelineOutput> {
    let tags = tags_from_wire(i.tags);
    let echoed = (!tags.is_empty()).then(|| tags_to_wire(tags.clone()));
    let stored = s
        .create_pipeline(pipeline_from_wire(i.pipeline)?, tags)
        .await?;
    Ok(w::CreatePipelineOutput {
        pipeline: Some(pipeline_to_wire(stored)),
        tags: echoed,
    })
}

pub async fn get_pipeline(s: &Sluice, i: w::GetPipelineInput) -> R<w::GetPipelineOutput> {
    let view = s.get_pipeline(&i.name, i.version).await?;
    Ok(w::GetPipelineOutput {
        pipeline: Some(pipeline_to_wire(view.declaration)),
        metadata: Some(w::PipelineMetadata {
            pipeline_arn: Some(view.arn),
            created: Some(epoch_seconds(view.created_ms)),
            updated: Some(epoch_seconds(view.updated_ms)),
            polling_disabled_at: None,
        }),
    })
}

pub async fn update_pipeline(s: &Sluice, i: w::UpdatePipelineInput) -> R<w::UpdatePipelineOutput> {
    let stored = s.update_pipeline(pipeline_from_wire(i.pipeline)?).await?;
    Ok(w::UpdatePipelineOutput {
        pipeline: Some(pipeline_to_wire(stored)),
    })
}

pub async fn delete_pipeline(s: &Sluice, i: w::DeletePipelineInput) -> R<()> {
    Ok(s.delete_pipeline(&i.name).await?)
}

pub async fn list_pipelines(s: &Sluice, i: w::ListPipelinesInput) -> R<w::ListPipelinesOutput> {
    let page = s
        .list_pipelines(i.max_results.map(|n| n as usize), i.next_token.as_deref())
        .await?;
    Ok(w::ListPipelinesOutput {
        pipelines: Some(
            page.items
                .into_iter()
                .map(|p| w::PipelineSummary {
                    name: Some(p.name),
                    version: Some(p.version),
                    created: Some(epoch_seconds(p.created_ms)),
                    updated: Some(epoch_seconds(p.updated_ms)),
                    execution_mode: Some(p.execution_mode.unwrap_or_else(|| "SUPERSEDED".into())),
                    pipeline_type: Some(p.pipeline_type.unwrap_or_else(|| "V1".into())),
                })
                .collect(),
        ),
        next_token: page.next_token,
    })
}

pub async fn get_pipeline_state(
    s: &Sluice,
    i: w::GetPipelineStateInput,
) -> R<w::GetPipelineStateOutput> {
    let state = s.get_pipeline_state(&i.name).await?;
    Ok(w::GetPipelineStateOutput {
        pipeline_name: Some(state.name),
        pipeline_version: Some(state.version),
        created: Some(epoch_seconds(state.created_ms)),
        updated: Some(epoch_seconds(state.updated_ms)),
        stage_states: Some(
            state
                .stages
                .into_iter()
                .map(|stage| w::StageState {
                    stage_name: Some(stage.name),
                    inbound_transition_state: stage.inbound.map(|t| w::TransitionState {
                        enabled: Some(t.enabled),
                        disabled_reason: t.disabled_reason,
                        last_changed_by: t.last_changed_by,
                        last_changed_at: t.last_changed_ms.map(epoch_seconds),
                    }),
                    action_states: Some(
                        stage
                            .actions
                            .into_iter()
                            .map(|name| w::ActionState {
                                action_name: Some(name),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                })
                .collect(),
        ),
    })
}

fn direction(t: &str) -> R<TransitionDirection> {
    // The model's enum constraint already refused anything else.
    TransitionDirection::parse(t).ok_or_else(|| {
        ApiError::client(
            "ValidationException",
            format!("Transition type '{t}' is not valid"),
        )
    })
}

pub async fn disable_stage_transition(
    s: &Sluice,
    caller: &Caller,
    i: w::DisableStageTransitionInput,
) -> R<()> {
    let d = direction(&i.transition_type)?;
    Ok(s.set_stage_transition(
        caller,
        &i.pipeline_name,
        &i.stage_name,
        d,
        false,
        Some(i.reason),
    )
    .await?)
}

pub async fn enable_stage_transition(
    s: &Sluice,
    caller: &Caller,
    i: w::EnableStageTransitionInput,
) -> R<()> {
    let d = direction(&i.transition_type)?;
    Ok(
        s.set_stage_transition(caller, &i.pipeline_name, &i.stage_name, d, true, None)
            .await?,
    )
}

pub async fn list_action_types(
    s: &Sluice,
    i: w::ListActionTypesInput,
) -> R<w::ListActionTypesOutput> {
    let owner = match i.action_owner_filter.as_deref() {
        None => None,
        Some(o) => Some(m::ActionOwner::parse(o).ok_or_else(|| {
            ApiError::client(
                "ValidationException",
                format!("Action owner '{o}' is not valid"),
            )
        })?),
    };
    let page = s.list_action_types(owner, i.next_token.as_deref()).await?;
    Ok(w::ListActionTypesOutput {
        action_types: page.items.into_iter().map(action_type_to_wire).collect(),
        next_token: page.next_token,
    })
}

pub async fn create_custom_action_type(
    s: &Sluice,
    i: w::CreateCustomActionTypeInput,
) -> R<w::CreateCustomActionTypeOutput> {
    let tags = tags_from_wire(i.tags.clone());
    let echoed = (!tags.is_empty()).then(|| tags_to_wire(tags.clone()));
    let created = s
        .create_custom_action_type(custom_action_type_from_wire(i)?, tags)
        .await?;
    Ok(w::CreateCustomActionTypeOutput {
        action_type: action_type_to_wire(created),
        tags: echoed,
    })
}

pub async fn delete_custom_action_type(s: &Sluice, i: w::DeleteCustomActionTypeInput) -> R<()> {
    let id = m::ActionTypeId::new(
        &i.category,
        m::ActionOwner::Custom.as_str(),
        &i.provider,
        &i.version,
    );
    Ok(s.delete_custom_action_type(&id).await?)
}

pub async fn tag_resource(s: &Sluice, i: w::TagResourceInput) -> R<()> {
    Ok(
        s.tag_resource(&i.resource_arn, tags_from_wire(Some(i.tags)))
            .await?,
    )
}

pub async fn untag_resource(s: &Sluice, i: w::UntagResourceInput) -> R<()> {
    Ok(s.untag_resource(&i.resource_arn, i.tag_keys).await?)
}

pub async fn list_tags_for_resource(
    s: &Sluice,
    i: w::ListTagsForResourceInput,
) -> R<w::ListTagsForResourceOutput> {
    let page = s
        .list_tags(
            &i.resource_arn,
            i.max_results.map(|n| n as usize),
            i.next_token.as_deref(),
        )
        .await?;
    Ok(w::ListTagsForResourceOutput {
        tags: Some(tags_to_wire(page.items)),
        next_token: page.next_token,
    })
}
