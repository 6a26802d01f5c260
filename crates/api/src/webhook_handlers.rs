//! The webhook operations: PutWebhook, ListWebhooks, DeleteWebhook and the third-party
//! (de)registration calls, and PutActionRevision (the other way a source reports a change).

use crate::convert::{epoch_seconds, tags_from_wire, tags_to_wire};
use crate::ApiError;
use sluice_service::{Sluice, WebhookDefinition, WebhookFilter, WebhookView};
use sluice_wire as w;

type R<T> = Result<T, ApiError>;

fn definition_from_wire(d: w::WebhookDefinition) -> WebhookDefinition {
    WebhookDefinition {
        name: d.name,
        target_pipeline: d.target_pipeline,
        target_action: d.target_action,
        filters: d
            .filters
            .into_iter()
            .map(|f| WebhookFilter {
                json_path: f.json_path,
                match_equals: f.match_equals,
            })
            .collect(),
        authentication: d.authentication,
        allowed_ip_range: d.authentication_configuration.allowed_ip_range,
        secret_token: d.authentication_configuration.secret_token,
    }
}

fn item_to_wire(v: WebhookView) -> w::ListWebhookItem {
    let d = v.definition;
    w::ListWebhookItem {
        arn: Some(v.arn),
        definition: w::WebhookDefinition {
            name: d.name,
            target_pipeline: d.target_pipeline,
            target_action: d.target_action,
            filters: d
                .filters
                .into_iter()
                .map(|f| w::WebhookFilterRule {
                    json_path: f.json_path,
                    match_equals: f.match_equals,
                })
                .collect(),
            authentication: d.authentication,
            authentication_configuration: w::WebhookAuthConfiguration {
                allowed_ip_range: d.allowed_ip_range,
                secret_token: d.secret_token,
            },
        },
        error_code: None,
        error_message: None,
        last_triggered: v.last_triggered_ms.map(epoch_seconds),
        tags: (!v.tags.is_empty()).then(|| tags_to_wire(v.tags)),
        url: v.url,
    }
}

pub async fn put_webhook(s: &Sluice, i: w::PutWebhookInput) -> R<w::PutWebhookOutput> {
    let view = s
        .put_webhook(definition_from_wire(i.webhook), tags_from_wire(i.tags))
        .await?;
    Ok(w::PutWebhookOutput {
        webhook: Some(item_to_wire(view)),
    })
}

pub async fn list_webhooks(s: &Sluice, i: w::ListWebhooksInput) -> R<w::ListWebhooksOutput> {
    let page = s
        .list_webhooks(i.max_results.map(|m| m as usize), i.next_token.as_deref())
        .await?;
    Ok(w::ListWebhooksOutput {
        webhooks: Some(page.items.into_iter().map(item_to_wire).collect()),
        next_token: page.next_token,
    })
}

pub async fn delete_webhook(s: &Sluice, i: w::DeleteWebhookInput) -> R<()> {
    Ok(s.delete_webhook(&i.name).await?)
}

pub async fn register_webhook(s: &Sluice, i: w::RegisterWebhookWithThirdPartyInput) -> R<()> {
    Ok(
        s.check_webhook_exists(i.webhook_name.as_deref().unwrap_or_default())
            .await?,
    )
}

pub async fn deregister_webhook(s: &Sluice, i: w::DeregisterWebhookWithThirdPartyInput) -> R<()> {
    Ok(
        s.check_webhook_exists(i.webhook_name.as_deref().unwrap_or_default())
            .await?,
    )
}

pub async fn put_action_revision(
    s: &Sluice,
    i: w::PutActionRevisionInput,
) -> R<w::PutActionRevisionOutput> {
    let r = s
        .put_action_revision(
            &i.pipeline_name,
            &i.stage_name,
            &i.action_name,
            &i.action_revision.revision_id,
        )
        .await?;
    Ok(w::PutActionRevisionOutput {
        new_revision: Some(r.new_revision),
        pipeline_execution_id: r.pipeline_execution_id,
    })
}
