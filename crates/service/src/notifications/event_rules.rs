//! EventBridge on the default bus: rules with event patterns, their targets (SNS topics,
//! Lambda functions whose policy lets `events.amazonaws.com` in, and CodePipeline pipelines),
//! `PutEvents`, and the routing of events — the pipelines' own
//! state-change events and users' — to the targets of the rules they match.
//!
//! The compiled rules are cached and reloaded after any change made here, or after
//! `RULE_CACHE_MS` (a rule changed through another replica takes effect within that bound).

use super::{named, Publication};
use crate::{Caller, Error, Page, RequestInfo, Result, Sluice, StartOverrides, Trigger};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_events::Pattern;
use sluice_store::{EventRuleRecord, OutboxRecord, PrincipalKind};
use std::sync::Arc;

/// Most rules on the bus (AWS's default quota is 300).
pub const MAX_RULES: usize = 300;
/// Most targets per rule, as in AWS.
pub const MAX_TARGETS: usize = 5;
/// How long compiled rules are trusted before they are read again.
pub const RULE_CACHE_MS: i64 = 5_000;
/// Most entries per `PutEvents`, as in AWS.
pub const MAX_PUT_EVENTS: usize = 10;
/// The service principal a rule's role must trust.
const EVENTS_SERVICE: &str = "events.amazonaws.com";

fn not_found(name: &str) -> Error {
    named(
        "ResourceNotFoundException",
        format!("Rule {name} does not exist on EventBus default."),
    )
}

fn validation(message: impl Into<String>) -> Error {
    named("ValidationException", message)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RuleDoc {
    #[serde(default)]
    description: Option<String>,
    event_pattern: String,
    state: String,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    targets: Vec<EventTargetView>,
}

/// A rule as `DescribeRule` and `ListRules` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRuleView {
    pub name: String,
    pub arn: String,
    pub event_pattern: String,
    pub state: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub created_by: String,
}

/// A rule's target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventTargetView {
    pub id: String,
    pub arn: String,
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Constant JSON sent instead of the event.
    #[serde(default)]
    pub input: Option<String>,
    /// The part of the event sent (`$.detail`).
    #[serde(default)]
    pub input_path: Option<String>,
}

/// One entry of `PutEvents`.
#[derive(Debug, Clone, Default)]
pub struct PutEventEntry {
    pub source: Option<String>,
    pub detail_type: Option<String>,
    pub detail: Option<String>,
    pub resources: Vec<String>,
    pub time_ms: Option<i64>,
    pub event_bus_name: Option<String>,
}

/// What `PutEvents` answers for one entry: its event id, or an error code and message.
#[derive(Debug, Clone, PartialEq)]
pub enum PutEventResult {
    Accepted(String),
    Failed(&'static str, String),
}

/// A rule ready to match.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    name: String,
    arn: String,
    pattern: Pattern,
    doc: RuleDoc,
}

impl CompiledRule {
    pub(crate) fn enabled(&self) -> bool {
        self.doc.state == "ENABLED"
    }
}

/// The compiled rules and when they were read.
pub(crate) type RuleCache = std::sync::Mutex<Option<(Arc<Vec<CompiledRule>>, i64)>>;

/// Whether any enabled rule matches `event`.
pub(crate) fn any_match(rules: &[CompiledRule], event: &Value) -> bool {
    rules
        .iter()
        .any(|r| r.enabled() && r.pattern.matches(event))
}

/// `$`, `$.a.b`: the part of the event at a simple JSONPath.
fn select<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    let rest = path.strip_prefix('$')?;
    let mut at = event;
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        at = at.get(part)?;
    }
    Some(at)
}

fn check_input_path(path: &str) -> bool {
    path == "$"
        || path.strip_prefix("$.").is_some_and(|rest| {
            rest.split('.').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            })
        })
}

impl Sluice {
    pub fn event_rule_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:rule/{name}",
            self.options().region,
            self.options().account_id
        )
    }

    fn rule_view(&self, record: &EventRuleRecord, doc: &RuleDoc) -> EventRuleView {
        EventRuleView {
            name: record.name.clone(),
            arn: self.event_rule_arn(&record.name),
            event_pattern: doc.event_pattern.clone(),
            state: doc.state.clone(),
            description: doc.description.clone(),
            role_arn: doc.role_arn.clone(),
            created_by: self.options().account_id.clone(),
        }
    }

    async fn rule_doc(&self, name: &str) -> Result<(EventRuleRecord, RuleDoc)> {
        let record = self
            .store()
            .event_rule(name)
            .await?
            .ok_or_else(|| not_found(name))?;
        let doc = serde_json::from_str(&record.doc)
            .map_err(|e| Error::Internal(format!("rule {name}: {e}")))?;
        Ok((record, doc))
    }

    async fn store_rule(&self, record: &EventRuleRecord, doc: &RuleDoc) -> Result<()> {
        let record = EventRuleRecord {
            doc: serde_json::to_string(doc).map_err(|e| Error::Internal(e.to_string()))?,
            ..record.clone()
        };
        let stored = self.store().put_event_rule(&record, MAX_RULES).await;
        self.forget_rules();
        match stored {
            Err(sluice_store::Error::LimitExceeded(m)) => Err(named(
                "LimitExceededException",
                format!("The requested resource exceeds the maximum number allowed: {m}"),
            )),
            other => Ok(other?),
        }
    }

    fn forget_rules(&self) {
        *self
            .inner
            .event_rules
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The compiled rules, read again when changed here or older than `RULE_CACHE_MS`.
    pub(crate) async fn compiled_rules(&self) -> Result<Arc<Vec<CompiledRule>>> {
        let now = self.now_ms();
        if let Some((rules, read)) = self
            .inner
            .event_rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if now - read < RULE_CACHE_MS {
                return Ok(rules.clone());
            }
        }
        let mut compiled = Vec::new();
        for record in self.store().event_rules().await? {
            let Ok(doc) = serde_json::from_str::<RuleDoc>(&record.doc) else {
                tracing::warn!(rule = %record.name, "an unreadable rule is skipped");
                continue;
            };
            let Ok(pattern) = Pattern::parse(&doc.event_pattern) else {
                continue;
            };
            compiled.push(CompiledRule {
                arn: self.event_rule_arn(&record.name),
                name: record.name,
                pattern,
                doc,
            });
        }
        let rules = Arc::new(compiled);
        *self
            .inner
            .event_rules
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((rules.clone(), now));
        Ok(rules)
    }

    /// `PutRule`: creates or updates a rule of the default bus; its targets stay.
    pub async fn put_event_rule(
        &self,
        name: &str,
        event_pattern: Option<&str>,
        schedule_expression: Option<&str>,
        state: Option<&str>,
        description: Option<&str>,
        role_arn: Option<&str>,
    ) -> Result<String> {
        if schedule_expression.is_some() {
            return Err(validation(
                "ScheduleExpression is not supported by this Sluice server; rules match events only",
            ));
        }
        let Some(pattern) = event_pattern else {
            return Err(validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.",
            ));
        };
        Pattern::parse(pattern)
            .map_err(|e| named("InvalidEventPatternException", e.to_string()))?;
        let state = match state.unwrap_or("ENABLED") {
            s @ ("ENABLED" | "DISABLED") => s.to_string(),
            other => {
                return Err(validation(format!(
                    "State {other} is not supported by this Sluice server (ENABLED or DISABLED)"
                )))
            }
        };
        let existing = self.store().event_rule(name).await?;
        let targets = match &existing {
            Some(record) => serde_json::from_str::<RuleDoc>(&record.doc)
                .map(|d| d.targets)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let doc = RuleDoc {
            description: description.map(str::to_string),
            event_pattern: pattern.to_string(),
            state,
            role_arn: role_arn.map(str::to_string),
            targets,
        };
        let record = EventRuleRecord {
            name: name.to_string(),
            doc: String::new(),
            created_ms: existing.map_or(self.now_ms(), |r| r.created_ms),
        };
        self.store_rule(&record, &doc).await?;
        Ok(self.event_rule_arn(name))
    }

    pub async fn describe_event_rule(&self, name: &str) -> Result<EventRuleView> {
        let (record, doc) = self.rule_doc(name).await?;
        Ok(self.rule_view(&record, &doc))
    }

    pub async fn list_event_rules(
        &self,
        prefix: Option<&str>,
        next_token: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page<EventRuleView>> {
        let mut views = Vec::new();
        for record in self.store().event_rules().await? {
            if prefix.is_some_and(|p| !record.name.starts_with(p)) {
                continue;
            }
            let doc: RuleDoc = serde_json::from_str(&record.doc)
                .map_err(|e| Error::Internal(format!("rule {}: {e}", record.name)))?;
            views.push(self.rule_view(&record, &doc));
        }
        let scope = format!("event-rules:{}", prefix.unwrap_or_default());
        crate::pagination::offset_page(
            &self.inner.tokens,
            &scope,
            &views,
            limit.unwrap_or(100).clamp(1, 100),
            next_token,
        )
        .map_err(|_| validation("The NextToken is not valid."))
    }

    pub async fn set_event_rule_state(&self, name: &str, enabled: bool) -> Result<()> {
        let (record, mut doc) = self.rule_doc(name).await?;
        doc.state = if enabled { "ENABLED" } else { "DISABLED" }.into();
        self.store_rule(&record, &doc).await
    }

    /// `DeleteRule`: a rule with targets is kept unless `force`.
    pub async fn delete_event_rule(&self, name: &str, force: bool) -> Result<()> {
        let Some(record) = self.store().event_rule(name).await? else {
            // Deleting a rule that is not there succeeds, as in AWS.
            return Ok(());
        };
        let doc: RuleDoc = serde_json::from_str(&record.doc).unwrap_or(RuleDoc {
            description: None,
            event_pattern: String::new(),
            state: String::new(),
            role_arn: None,
            targets: Vec::new(),
        });
        if !doc.targets.is_empty() && !force {
            return Err(validation("Rule can't be deleted since it has targets."));
        }
        self.store().delete_event_rule(name).await?;
        self.forget_rules();
        Ok(())
    }

    /// Checks one target; `Err((code, message))` is its failed entry.
    async fn check_target(
        &self,
        target: &EventTargetView,
    ) -> std::result::Result<(), (&'static str, String)> {
        let fail = |m: String| Err(("ValidationException", m));
        if let Some(input) = &target.input {
            if serde_json::from_str::<Value>(input).is_err() {
                return fail(format!(
                    "Input for target {} must be valid JSON text.",
                    target.id
                ));
            }
        }
        if let Some(path) = &target.input_path {
            if !check_input_path(path) {
                return fail(format!(
                    "InputPath {path} is not supported by this Sluice server: use $ or $.a.b"
                ));
            }
        }
        let arn = target.arn.as_str();
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let own = parts.len() == 6
            && parts[3] == self.options().region
            && parts[4] == self.options().account_id;
        match parts.get(2).copied() {
            Some("sns") if own => Ok(()),
            Some("codepipeline") if own => match &target.role_arn {
                None => fail(format!(
                    "RoleArn is required for target arn: {arn}."
                )),
                Some(role) => {
                    let Some((_, name)) = crate::iam::role_of_arn(role) else {
                        return fail(format!("RoleArn {role} is not a role ARN."));
                    };
                    match self.store().principal(PrincipalKind::Role, name).await {
                        Ok(Some(r)) if crate::iam::role_trusts(&r, None, Some(EVENTS_SERVICE)) => Ok(()),
                        Ok(_) => fail(format!(
                            "The role {role} does not exist or does not trust {EVENTS_SERVICE}."
                        )),
                        Err(e) => Err(("InternalException", e.to_string())),
                    }
                }
            },
            Some("lambda") if own => match self.function_name_of(arn, None) {
                Ok(name) if self.function(&name).await.is_ok() => Ok(()),
                _ => fail(format!("The function {arn} does not exist.")),
            },
            _ => fail(format!(
                "Target {arn} is not supported by this Sluice server: target an SNS topic, a Lambda function or a CodePipeline pipeline of this account and region"
            )),
        }
    }

    /// `PutTargets`: adds or replaces targets by id; answers the entries that failed.
    pub async fn put_event_targets(
        &self,
        rule: &str,
        targets: Vec<EventTargetView>,
    ) -> Result<Vec<(String, &'static str, String)>> {
        let (record, mut doc) = self.rule_doc(rule).await?;
        let mut failed = Vec::new();
        for target in targets {
            if let Err((code, message)) = self.check_target(&target).await {
                failed.push((target.id.clone(), code, message));
                continue;
            }
            match doc.targets.iter_mut().find(|t| t.id == target.id) {
                Some(existing) => *existing = target,
                None => doc.targets.push(target),
            }
        }
        if doc.targets.len() > MAX_TARGETS {
            return Err(named(
                "LimitExceededException",
                format!("The requested resource exceeds the maximum number allowed: a rule has at most {MAX_TARGETS} targets"),
            ));
        }
        self.store_rule(&record, &doc).await?;
        Ok(failed)
    }

    pub async fn list_event_targets(&self, rule: &str) -> Result<Vec<EventTargetView>> {
        Ok(self.rule_doc(rule).await?.1.targets)
    }

    /// `RemoveTargets`: ids the rule does not have are failed entries.
    pub async fn remove_event_targets(
        &self,
        rule: &str,
        ids: &[String],
    ) -> Result<Vec<(String, &'static str, String)>> {
        let (record, mut doc) = self.rule_doc(rule).await?;
        let mut failed = Vec::new();
        for id in ids {
            let before = doc.targets.len();
            doc.targets.retain(|t| &t.id != id);
            if doc.targets.len() == before {
                failed.push((
                    id.clone(),
                    "ResourceNotFoundException",
                    format!("Target {id} does not exist on rule {rule}."),
                ));
            }
        }
        self.store_rule(&record, &doc).await?;
        Ok(failed)
    }

    /// `TestEventPattern`.
    pub fn test_event_pattern(&self, pattern: &str, event: &str) -> Result<bool> {
        let pattern = Pattern::parse(pattern)
            .map_err(|e| named("InvalidEventPatternException", e.to_string()))?;
        let event: Value = serde_json::from_str(event)
            .map_err(|e| validation(format!("Event is not valid JSON: {e}")))?;
        for field in ["id", "account", "source", "time", "region", "detail-type"] {
            if event.get(field).is_none() {
                return Err(validation(format!(
                    "Parameter Event is not valid. Reason: Provided Event must have mandatory field {field}"
                )));
            }
        }
        Ok(pattern.matches(&event))
    }

    /// `PutEvents`: each accepted event that some rule matches is in the outbox when this
    /// returns.
    pub async fn put_events(&self, entries: Vec<PutEventEntry>) -> Result<Vec<PutEventResult>> {
        if entries.is_empty() || entries.len() > MAX_PUT_EVENTS {
            return Err(validation(format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {MAX_PUT_EVENTS}"
            )));
        }
        let rules = self.compiled_rules().await?;
        let now = self.now_ms();
        let mut results = Vec::new();
        let mut rows = Vec::new();
        for entry in entries {
            let missing = |what: &str| {
                PutEventResult::Failed(
                    "InvalidArgument",
                    format!(
                        "Parameter {what} is not valid. Reason: {what} is a required argument."
                    ),
                )
            };
            let (Some(source), Some(detail_type), Some(detail)) =
                (&entry.source, &entry.detail_type, &entry.detail)
            else {
                let what = if entry.source.is_none() {
                    "Source"
                } else if entry.detail_type.is_none() {
                    "DetailType"
                } else {
                    "Detail"
                };
                results.push(missing(what));
                continue;
            };
            if entry
                .event_bus_name
                .as_deref()
                .is_some_and(|b| b != "default" && !b.ends_with(":event-bus/default"))
            {
                results.push(PutEventResult::Failed(
                    "InvalidArgument",
                    "Only the default event bus is supported by this Sluice server.".into(),
                ));
                continue;
            }
            if source.starts_with("aws.") {
                results.push(PutEventResult::Failed(
                    "NotAuthorizedForSourceException",
                    "Not authorized for the source.".into(),
                ));
                continue;
            }
            let detail: Value = match serde_json::from_str(detail) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    results.push(PutEventResult::Failed(
                        "MalformedDetail",
                        "Detail is malformed.".into(),
                    ));
                    continue;
                }
            };
            let id = self.new_id();
            let event = sluice_events::state_change::custom_event(
                &id,
                &self.options().account_id,
                &self.options().region,
                entry.time_ms.unwrap_or(now),
                source,
                detail_type,
                &entry.resources,
                detail,
            );
            if any_match(&rules, &event) {
                rows.push(OutboxRecord::new(
                    self.new_id(),
                    "event",
                    String::new(),
                    event.to_string(),
                    now,
                ));
            }
            results.push(PutEventResult::Accepted(id));
        }
        if !rows.is_empty() {
            self.store().enqueue(&rows).await?;
            self.wake_outbox();
        }
        Ok(results)
    }

    /// The rows an event causes: one per target of each enabled rule it matches.
    pub(crate) async fn route_event(
        &self,
        row: &OutboxRecord,
        now: i64,
    ) -> Result<Vec<OutboxRecord>> {
        let Ok(event) = serde_json::from_str::<Value>(&row.body) else {
            return Ok(Vec::new());
        };
        let rules = self.compiled_rules().await?;
        let mut into = Vec::new();
        for rule in rules
            .iter()
            .filter(|r| r.enabled() && r.pattern.matches(&event))
        {
            for target in &rule.doc.targets {
                let payload = match (&target.input, &target.input_path) {
                    (Some(input), _) => input.clone(),
                    (None, Some(path)) => select(&event, path)
                        .map(Value::to_string)
                        .unwrap_or_else(|| "null".into()),
                    (None, None) => event.to_string(),
                };
                if target.arn.starts_with("arn:aws:sns:") {
                    let publication = Publication {
                        message_id: self.new_id(),
                        subject: None,
                        message: payload,
                        per_protocol: false,
                        attributes: Default::default(),
                        timestamp_ms: now,
                    };
                    into.push(publication.row(self.new_id(), &target.arn, now));
                } else if target.arn.starts_with("arn:aws:lambda:") {
                    let function = target.arn.rsplit(':').next().unwrap_or_default();
                    let queued = crate::functions::QueuedInvocation {
                        payload,
                        by: Some(crate::functions::InvokedBy {
                            service: EVENTS_SERVICE.into(),
                            source_arn: rule.arn.clone(),
                        }),
                    };
                    into.push(queued.row(self.new_id(), function, now));
                } else if target.arn.starts_with("arn:aws:codepipeline:") {
                    let body = serde_json::json!({
                        "rule_arn": rule.arn,
                        "rule": rule.name,
                        "role_arn": target.role_arn,
                    });
                    into.push(OutboxRecord::new(
                        self.new_id(),
                        "start",
                        target.arn.clone(),
                        body.to_string(),
                        now,
                    ));
                }
            }
        }
        Ok(into)
    }

    /// Starts the pipeline a rule targets, as the target's role; the row's id is the
    /// execution's client token, so a repeat after a crash starts nothing new.
    pub(crate) async fn start_from_rule(&self, row: &OutboxRecord) -> Result<()> {
        let body: Value = serde_json::from_str(&row.body)
            .map_err(|e| Error::Internal(format!("unreadable start: {e}")))?;
        let pipeline = row.topic.rsplit(':').next().unwrap_or_default();
        let role = body["role_arn"].as_str().unwrap_or_default();
        let Some((_, role_name)) = crate::iam::role_of_arn(role) else {
            return Err(validation(format!("RoleArn {role} is not a role ARN")));
        };
        let trusted = self
            .store()
            .principal(PrincipalKind::Role, role_name)
            .await?
            .is_some_and(|r| crate::iam::role_trusts(&r, None, Some(EVENTS_SERVICE)));
        if !trusted {
            return Err(validation(format!(
                "the role {role} does not exist or does not trust {EVENTS_SERVICE}"
            )));
        }
        let caller = Caller {
            arn: role.to_string(),
            access_key_id: String::new(),
            principal: Some((PrincipalKind::Role, role_name.to_string())),
            principal_id: None,
        };
        self.authorize(
            &caller,
            "codepipeline:StartPipelineExecution",
            &row.topic,
            &RequestInfo::default(),
        )
        .await?;
        self.start_pipeline_execution(
            pipeline,
            Trigger {
                kind: "CloudWatchEvent".into(),
                detail: body["rule_arn"].as_str().unwrap_or_default().to_string(),
            },
            StartOverrides::default(),
            Some(row.id.clone()),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_paths_select_a_part_of_the_event() {
        let event = serde_json::json!({"detail": {"state": "SUCCEEDED"}});
        assert_eq!(
            select(&event, "$.detail.state"),
            Some(&serde_json::json!("SUCCEEDED"))
        );
        assert_eq!(select(&event, "$"), Some(&event));
        assert_eq!(select(&event, "$.missing"), None);
        assert!(check_input_path("$.detail"));
        assert!(!check_input_path("$..detail"));
        assert!(!check_input_path("detail"));
    }
}
