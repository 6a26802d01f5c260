//! Webhooks: a URL that starts a pipeline when a push event passes the webhook's
//! authentication and filters (JSONPath rules whose `matchEquals` may name the target action's
//! configuration, e.g. `refs/heads/{Branch}`). The secret token never appears in a response.

use crate::{Error, Page, Result, Sluice, Tag, Trigger};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use sluice_model::triggers::{PipelineTrigger, PullRequestEvent, PushedRef};
use sluice_store::WebhookRecord;
use std::net::IpAddr;

/// The most webhooks an account may have (CodePipeline's limit).
pub const MAX_WEBHOOKS: usize = 300;

/// One filter rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookFilter {
    pub json_path: String,
    pub match_equals: Option<String>,
}

/// A webhook as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDefinition {
    pub name: String,
    pub target_pipeline: String,
    pub target_action: String,
    pub filters: Vec<WebhookFilter>,
    /// `GITHUB_HMAC`, `IP` or `UNAUTHENTICATED`.
    pub authentication: String,
    pub allowed_ip_range: Option<String>,
    pub secret_token: Option<String>,
}

/// A webhook as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookView {
    pub definition: WebhookDefinition,
    pub url: String,
    pub arn: String,
    pub last_triggered_ms: Option<i64>,
    pub tags: Vec<Tag>,
}

/// What a delivered event did.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookDelivery {
    Started(String),
    /// A filter did not match; nothing started.
    Filtered,
}

/// Evaluates the JSONPath subset webhooks use: `$.a.b`, `$.a[0].b`, `$['a']`.
pub fn json_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut rest = path.strip_prefix('$')?;
    let mut cur = doc;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            cur = match inner.trim_matches(|c| c == '\'' || c == '"') {
                key if inner.starts_with('\'') || inner.starts_with('"') => cur.get(key)?,
                index => cur.get(index.parse::<usize>().ok()?)?,
            };
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}

fn check_path(path: &str) -> Result<()> {
    if path == "$" || path.starts_with("$.") || path.starts_with("$[") {
        Ok(())
    } else {
        Err(Error::InvalidWebhookFilterPattern(format!(
            "jsonPath '{path}' is not a JSONPath starting with '$'"
        )))
    }
}

/// `{Key}` placeholders replaced by the action's configuration values.
fn expand(pattern: &str, config: &std::collections::BTreeMap<String, String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or_else(|| {
            Error::InvalidWebhookFilterPattern(format!(
                "matchEquals '{pattern}' has an unclosed '{{'"
            ))
        })? + open;
        let key = &rest[open + 1..close];
        let value = config.get(key).ok_or_else(|| {
            Error::InvalidWebhookFilterPattern(format!(
                "matchEquals '{pattern}' names {key}, which the target action's configuration does not have"
            ))
        })?;
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What a GitHub event starts under a trigger with filters: the trigger (naming the filter
/// that admitted it) and the commit to run, or nothing when no filter admits it.
fn triggered_by(
    trigger: &PipelineTrigger,
    github_event: Option<&str>,
    event: &Value,
    action: &str,
) -> Option<(Trigger, String)> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let kind = github_event.unwrap_or(if event.get("pull_request").is_some() {
        "pull_request"
    } else {
        "push"
    });
    let (detail, commit) = match kind {
        "push" => {
            if event["deleted"].as_bool() == Some(true) {
                return None;
            }
            let git_ref = text(&event["ref"])?;
            let commit = text(&event["after"])?;
            // Every file the pushed commits add, change or remove.
            let mut files: Vec<String> = event["commits"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| ["added", "modified", "removed"].map(|k| &c[k]))
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(text)
                .collect();
            files.sort();
            files.dedup();
            let (pushed, what) = if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
                let pushed = PushedRef::Branch {
                    name: branch,
                    changed_files: &files,
                };
                (pushed, format!("branch {branch}"))
            } else {
                let tag = git_ref.strip_prefix("refs/tags/")?;
                (PushedRef::Tag { name: tag }, format!("tag {tag}"))
            };
            let (n, filter) = trigger.admitting(&pushed)?;
            let detail = format!(
                "{action}: push of {what} ({commit}) matched push filter {} ({})",
                n + 1,
                filter.describe()
            );
            (detail, commit)
        }
        "pull_request" => {
            let pull_request = &event["pull_request"];
            // AWS's CLOSED is a merged pull request; one closed unmerged starts nothing.
            let happened = match event["action"].as_str()? {
                "opened" | "reopened" => "OPEN",
                "synchronize" => "UPDATED",
                "closed" if pull_request["merged"].as_bool() == Some(true) => "CLOSED",
                _ => return None,
            };
            let destination = text(&pull_request["base"]["ref"])?;
            let commit = text(&pull_request["head"]["sha"])?;
            let (n, filter) = trigger.admitting_pull_request(&PullRequestEvent {
                event: happened,
                destination_branch: &destination,
            })?;
            let number = event["number"]
                .as_i64()
                .or(pull_request["number"].as_i64())
                .unwrap_or_default();
            let detail = format!(
                "{action}: pull request #{number} {happened} into {destination} ({commit}) matched pull request filter {} ({})",
                n + 1,
                filter.describe()
            );
            (detail, commit)
        }
        _ => return None,
    };
    let trigger = Trigger {
        kind: "WebhookV2".into(),
        detail,
    };
    Some((trigger, commit))
}

fn ip_in_range(ip: IpAddr, cidr: &str) -> Option<bool> {
    let (base, bits) = cidr.split_once('/').unwrap_or((cidr, ""));
    let base: IpAddr = base.trim().parse().ok()?;
    let (ip, base, width) = match (ip, base) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        (IpAddr::V6(a), IpAddr::V4(b)) => match a.to_ipv4_mapped() {
            Some(a) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            None => return Some(false),
        },
        _ => return Some(false),
    };
    let bits: u32 = if bits.is_empty() {
        width
    } else {
        bits.parse().ok()?
    };
    if bits > width {
        return None;
    }
    let shift = width - bits;
    let mask = if shift >= 128 {
        0
    } else {
        (!0u128 >> (128 - width)) >> shift << shift
    };
    Some(ip & mask == base & mask)
}

impl Sluice {
    fn webhook_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:codepipeline:{}:{}:webhook:{name}",
            self.options().region,
            self.options().account_id
        )
    }

    fn webhook_view(&self, record: &WebhookRecord, tags: Vec<Tag>) -> Result<WebhookView> {
        let mut definition: WebhookDefinition = serde_json::from_str(&record.doc)
            .map_err(|e| Error::Internal(format!("stored webhook is corrupt: {e}")))?;
        if definition.secret_token.is_some() {
            definition.secret_token = Some(sluice_model::SECRET_MASK.into());
        }
        Ok(WebhookView {
            url: format!(
                "{}/_sluice/webhooks/{}",
                self.options().public_url.trim_end_matches('/'),
                record.url_id
            ),
            arn: record.arn.clone(),
            last_triggered_ms: record.last_triggered_ms,
            definition,
            tags,
        })
    }

    pub async fn put_webhook(&self, def: WebhookDefinition, tags: Vec<Tag>) -> Result<WebhookView> {
        let (_, declaration) = self
            .pipeline_with_action(&def.target_pipeline, &def.target_action)
            .await?;
        let action = declaration
            .stages
            .iter()
            .flat_map(|s| &s.actions)
            .find(|a| a.name == def.target_action)
            .cloned()
            .unwrap_or_default();
        if action.action_type_id.category != "Source" {
            return Err(Error::Validation(format!(
                "targetAction {} is not a source action",
                def.target_action
            )));
        }
        for f in &def.filters {
            check_path(&f.json_path)?;
            if let Some(m) = &f.match_equals {
                expand(m, &action.configuration)?;
            }
        }
        let auth_error = |m: &str| Error::InvalidWebhookAuthenticationParameters(m.into());
        match def.authentication.as_str() {
            "GITHUB_HMAC" if def.secret_token.as_deref().is_none_or(str::is_empty) => {
                return Err(auth_error(
                    "GITHUB_HMAC authentication requires a SecretToken",
                ))
            }
            "IP" => {
                let range = def.allowed_ip_range.as_deref().unwrap_or_default();
                if ip_in_range(IpAddr::from([0, 0, 0, 0]), range).is_none() {
                    return Err(auth_error(
                        "IP authentication requires AllowedIPRange in CIDR notation",
                    ));
                }
            }
            _ => {}
        }
        self.check_tags(&tags)?;
        let existing = self.store().webhook(&def.name).await?;
        let mut def = def;
        // Updating with the masked secret keeps the stored one.
        if def.secret_token.as_deref() == Some(sluice_model::SECRET_MASK) {
            let old: Option<WebhookDefinition> = existing
                .as_ref()
                .and_then(|r| serde_json::from_str(&r.doc).ok());
            def.secret_token = old.and_then(|o| o.secret_token);
        } else if let Some(token) = &def.secret_token {
            def.secret_token = Some(self.seal(crate::sealing::Purpose::Webhook, token)?);
        }
        let record = WebhookRecord {
            name: def.name.clone(),
            arn: self.webhook_arn(&def.name),
            url_id: existing
                .as_ref()
                .map(|e| e.url_id.clone())
                .unwrap_or_else(|| self.new_id().replace('-', "")),
            doc: serde_json::to_string(&def).map_err(|e| Error::Internal(e.to_string()))?,
            created_ms: existing.as_ref().map_or(self.now_ms(), |e| e.created_ms),
            last_triggered_ms: existing.as_ref().and_then(|e| e.last_triggered_ms),
        };
        self.store().put_webhook(&record, MAX_WEBHOOKS).await?;
        if !tags.is_empty() {
            self.store()
                .tag_resource(
                    &record.arn,
                    &tags,
                    self.options().limits.max_tags_per_resource,
                )
                .await?;
        }
        let tags = self.store().tags(&record.arn).await?;
        self.webhook_view(&record, tags)
    }

    pub async fn list_webhooks(
        &self,
        max: Option<usize>,
        next: Option<&str>,
    ) -> Result<Page<WebhookView>> {
        let records = self.store().list_webhooks().await?;
        let page = crate::pagination::offset_page(
            &self.inner.tokens,
            "webhooks",
            &records,
            max.unwrap_or(100),
            next,
        )?;
        let mut items = Vec::with_capacity(page.items.len());
        for r in &page.items {
            let tags = self.store().tags(&r.arn).await?;
            items.push(self.webhook_view(r, tags)?);
        }
        Ok(Page {
            items,
            next_token: page.next_token,
        })
    }

    /// Deleting a webhook that does not exist succeeds, as in CodePipeline.
    pub async fn delete_webhook(&self, name: &str) -> Result<()> {
        self.store().delete_webhook(name).await?;
        Ok(())
    }

    /// There is no third party to call from here: registering checks the webhook exists; the
    /// URL is added to the git host by its owner.
    pub async fn check_webhook_exists(&self, name: &str) -> Result<()> {
        match self.store().webhook(name).await? {
            Some(_) => Ok(()),
            None => Err(Error::WebhookNotFound(name.into())),
        }
    }

    /// A push or pull request event (GitHub's `X-GitHub-Event`) arrived at a webhook's URL.
    /// Checks a delivery against the webhook's authentication and filters and starts its
    /// pipeline. `before_start` runs once the delivery is authenticated and about to change
    /// something (the caller records it in the trail), with the webhook's ARN.
    pub async fn deliver_webhook(
        &self,
        url_id: &str,
        body: &[u8],
        github_signature: Option<&str>,
        github_event: Option<&str>,
        remote_ip: Option<IpAddr>,
        before_start: impl AsyncFnOnce(&str) -> Result<()>,
    ) -> Result<WebhookDelivery> {
        let record = self
            .store()
            .webhook_by_url(url_id)
            .await?
            .ok_or_else(|| Error::WebhookNotFound(url_id.into()))?;
        let def: WebhookDefinition = serde_json::from_str(&record.doc)
            .map_err(|e| Error::Internal(format!("stored webhook is corrupt: {e}")))?;
        let denied = |m: &str| Error::AccessDenied(m.into());
        match def.authentication.as_str() {
            "GITHUB_HMAC" => {
                let secret = match &def.secret_token {
                    Some(t) => self.unseal(crate::sealing::Purpose::Webhook, t)?,
                    None => String::new(),
                };
                let given = github_signature
                    .and_then(|s| s.strip_prefix("sha256="))
                    .ok_or_else(|| denied("the X-Hub-Signature-256 header is missing"))?;
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                mac.update(body);
                let expected = sluice_model::hex(&mac.finalize().into_bytes());
                let same = expected.len() == given.len()
                    && expected
                        .bytes()
                        .zip(given.bytes())
                        .fold(0u8, |a, (x, y)| a | (x ^ y))
                        == 0;
                if !same {
                    return Err(denied(
                        "the payload signature does not match the webhook's secret",
                    ));
                }
            }
            "IP" => {
                let range = def.allowed_ip_range.as_deref().unwrap_or_default();
                let inside = remote_ip
                    .and_then(|ip| ip_in_range(ip, range))
                    .unwrap_or(false);
                if !inside {
                    return Err(denied(
                        "the caller's address is outside the webhook's AllowedIPRange",
                    ));
                }
            }
            _ => {}
        }
        let event: Value = serde_json::from_slice(body)
            .map_err(|e| Error::Validation(format!("the event is not JSON: {e}")))?;
        let (_, declaration) = self
            .pipeline_with_action(&def.target_pipeline, &def.target_action)
            .await?;
        // A trigger with filters decides instead of the webhook's own filters, and its run
        // fetches exactly the commit of the event.
        let (trigger, overrides) = match declaration
            .trigger_of(&def.target_action)
            .filter(|t| t.has_filters())
        {
            Some(trigger) => {
                let Some((trigger, commit)) =
                    triggered_by(trigger, github_event, &event, &def.target_action)
                else {
                    return Ok(WebhookDelivery::Filtered);
                };
                let revision = sluice_engine::SourceRevision {
                    kind: "COMMIT_ID".into(),
                    value: commit,
                };
                let overrides = crate::StartOverrides {
                    source_revisions: [(def.target_action.clone(), revision)].into(),
                    ..Default::default()
                };
                (trigger, overrides)
            }
            None => {
                let config = declaration
                    .actions()
                    .find(|(_, a)| a.name == def.target_action)
                    .map(|(_, a)| a.configuration.clone())
                    .unwrap_or_default();
                for f in &def.filters {
                    let Some(found) = json_path(&event, &f.json_path) else {
                        return Ok(WebhookDelivery::Filtered);
                    };
                    if let Some(pattern) = &f.match_equals {
                        let want = expand(pattern, &config)?;
                        let got = match found {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        if got != want {
                            return Ok(WebhookDelivery::Filtered);
                        }
                    }
                }
                let trigger = Trigger {
                    kind: "Webhook".into(),
                    detail: record.arn.clone(),
                };
                (trigger, Default::default())
            }
        };
        before_start(&record.arn).await?;
        self.store()
            .webhook_triggered(&def.name, self.now_ms())
            .await?;
        let id = self
            .start_pipeline_execution(&def.target_pipeline, trigger, overrides, None)
            .await?;
        Ok(WebhookDelivery::Started(id))
    }

    async fn pipeline_with_action(
        &self,
        pipeline: &str,
        action: &str,
    ) -> Result<(
        sluice_store::PipelineRecord,
        sluice_model::PipelineDeclaration,
    )> {
        let record = self.current_pipeline(pipeline).await?;
        let declaration = record.declaration.to_model();
        let found = declaration
            .stages
            .iter()
            .flat_map(|s| &s.actions)
            .any(|a| a.name == action);
        if !found {
            return Err(Error::Validation(format!(
                "targetAction {action} is not an action of pipeline {pipeline}"
            )));
        }
        Ok((record, declaration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_paths_reach_fields_and_indexes() {
        let doc = json!({"ref": "refs/heads/main", "commits": [{"id": "abc"}], "repository": {"name": "app"}});
        assert_eq!(json_path(&doc, "$.ref"), Some(&json!("refs/heads/main")));
        assert_eq!(json_path(&doc, "$.commits[0].id"), Some(&json!("abc")));
        assert_eq!(json_path(&doc, "$['repository'].name"), Some(&json!("app")));
        assert_eq!(json_path(&doc, "$.missing"), None);
        assert_eq!(json_path(&doc, "ref"), None);
    }

    #[test]
    fn match_equals_names_the_actions_configuration() {
        let config = [("Branch".to_string(), "main".to_string())].into();
        assert_eq!(
            expand("refs/heads/{Branch}", &config).ok().as_deref(),
            Some("refs/heads/main")
        );
        assert!(expand("refs/heads/{Nope}", &config).is_err());
    }

    #[test]
    fn addresses_are_matched_against_cidr_ranges() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(ip_in_range(ip("10.1.2.3"), "10.0.0.0/8"), Some(true));
        assert_eq!(ip_in_range(ip("11.1.2.3"), "10.0.0.0/8"), Some(false));
        assert_eq!(ip_in_range(ip("127.0.0.1"), "127.0.0.1/32"), Some(true));
        assert_eq!(
            ip_in_range(ip("::ffff:127.0.0.1"), "127.0.0.0/24"),
            Some(true)
        );
        assert_eq!(ip_in_range(ip("1.2.3.4"), "0.0.0.0/0"), Some(true));
        assert_eq!(ip_in_range(ip("1.2.3.4"), "garbage"), None);
    }
}
