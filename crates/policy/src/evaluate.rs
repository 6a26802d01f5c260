//! The decision: an explicit `Deny` in any matching statement wins; otherwise a matching
//! `Allow` allows; otherwise the request is denied implicitly.

use crate::document::{Effect, Patterns, Policy, Statement};
use crate::glob::glob_match;
use std::collections::BTreeMap;

/// The request context: condition keys (case-insensitive) and their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_lowercase(), vec![value.into()]);
    }

    pub fn set_many(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(key.to_lowercase(), values);
    }

    pub(crate) fn values(&self, key: &str) -> Option<&[String]> {
        self.values.get(&key.to_lowercase()).map(Vec::as_slice)
    }

    /// Replaces policy variables (`${aws:username}`, and the escapes `${*}`, `${?}`, `${$}`);
    /// `None` when a variable names a key the request does not have, so the text cannot match.
    pub(crate) fn substitute(&self, text: &str) -> Option<String> {
        if !text.contains("${") {
            return Some(text.to_string());
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let name = &after[..end];
            match name {
                "*" | "?" | "$" => out.push_str(name),
                key => out.push_str(self.values(key)?.first()?),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// One authorization question.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `service:Operation`, e.g. `codepipeline:GetPipeline`.
    pub action: &'a str,
    /// The resource's ARN, or `*` for operations without resource-level permissions.
    pub resource: &'a str,
    pub context: &'a Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allowed the request.
    ImplicitDeny,
    /// A `Deny` statement matched.
    ExplicitDeny,
}

fn patterns_match(patterns: &Patterns, value: &str, ignore_case: bool, context: &Context) -> bool {
    let any = patterns.values.iter().any(|p| {
        context
            .substitute(p)
            .is_some_and(|p| glob_match(&p, value, ignore_case))
    });
    any != patterns.negated
}

impl Statement {
    fn applies(&self, request: &Request<'_>) -> bool {
        patterns_match(&self.actions, request.action, true, request.context)
            && self
                .resources
                .as_ref()
                .is_none_or(|r| patterns_match(r, request.resource, false, request.context))
            && self.conditions.iter().all(|c| c.holds(request.context))
    }

    fn trusts(&self, principal_arn: Option<&str>, service: Option<&str>) -> bool {
        let Some(spec) = &self.principal else {
            return false;
        };
        if spec.any {
            return true;
        }
        if let Some(service) = service {
            return spec.service.iter().any(|s| s == service);
        }
        let Some(arn) = principal_arn else {
            return false;
        };
        // `"AWS": "123456789012"` and `arn:aws:iam::123456789012:root` trust the whole account.
        let account = arn.split(':').nth(4).unwrap_or_default();
        spec.aws.iter().any(|p| {
            p == arn
                || p == account
                || *p == format!("arn:aws:iam::{account}:root")
                || glob_match(p, arn, false)
        })
    }
}

/// Decides a request against every policy that applies to the caller.
pub fn evaluate<'p>(
    policies: impl IntoIterator<Item = &'p Policy>,
    request: &Request<'_>,
) -> Decision {
    let mut decision = Decision::ImplicitDeny;
    for policy in policies {
        for statement in &policy.statements {
            if statement.applies(request) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => decision = Decision::Allow,
                }
            }
        }
    }
    decision
}

impl Policy {
    /// Whether this trust policy lets the principal (an IAM ARN, or a service such as
    /// `codepipeline.amazonaws.com`) perform `action` (`sts:AssumeRole`).
    pub fn trusts(
        &self,
        principal_arn: Option<&str>,
        service: Option<&str>,
        action: &str,
        context: &Context,
    ) -> bool {
        let request = Request {
            action,
            resource: "*",
            context,
        };
        let mut allowed = false;
        for s in &self.statements {
            if s.trusts(principal_arn, service) && s.applies(&request) {
                match s.effect {
                    Effect::Deny => return false,
                    Effect::Allow => allowed = true,
                }
            }
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT_ARN: &str = "arn:aws:codepipeline:us-east-1:80398EXAMPLE";

    fn decide(policies: &[&str], action: &str, resource: &str) -> Decision {
        let parsed: Vec<Policy> = policies
            .iter()
            .map(|p| Policy::parse(p).expect("parses"))
            .collect();
        let mut context = Context::default();
        context.set("aws:username", "JaneDoe");
        evaluate(
            &parsed,
            &Request {
                action,
                resource,
                context: &context,
            },
        )
    }

    #[test]
    fn explicit_deny_beats_allow_beats_implicit_deny() {
        let allow =
            r#"{"Statement":[{"Effect":"Allow","Action":"codepipeline:*","Resource":"*"}]}"#;
        let deny = r#"{"Statement":[{"Effect":"Deny","Action":"codepipeline:DeletePipeline","Resource":"*"}]}"#;
        let r = &format!("{ACCOUNT_ARN}:MyFirstPipeline");
        assert_eq!(
            decide(&[allow], "codepipeline:DeletePipeline", r),
            Decision::Allow
        );
        assert_eq!(
            decide(&[allow, deny], "codepipeline:DeletePipeline", r),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&[deny, allow], "codepipeline:DeletePipeline", r),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&[allow, deny], "codepipeline:GetPipeline", r),
            Decision::Allow
        );
        assert_eq!(
            decide(&[], "codepipeline:GetPipeline", r),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn resources_scope_to_pipeline_stage_and_action() {
        let stage = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"codepipeline:DisableStageTransition","Resource":"{ACCOUNT_ARN}:MyFirstPipeline/Beta"}}]}}"#
        );
        assert_eq!(
            decide(
                &[&stage],
                "codepipeline:DisableStageTransition",
                &format!("{ACCOUNT_ARN}:MyFirstPipeline/Beta")
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &[&stage],
                "codepipeline:DisableStageTransition",
                &format!("{ACCOUNT_ARN}:MyFirstPipeline/Prod")
            ),
            Decision::ImplicitDeny
        );
        let prefix = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"codepipeline:GetPipeline","Resource":"{ACCOUNT_ARN}:My*"}}]}}"#
        );
        assert_eq!(
            decide(
                &[&prefix],
                "codepipeline:GetPipeline",
                &format!("{ACCOUNT_ARN}:MyFirstPipeline")
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &[&prefix],
                "codepipeline:GetPipeline",
                &format!("{ACCOUNT_ARN}:Other")
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn not_action_and_not_resource_invert_the_match() {
        let p = r#"{"Statement":[{"Effect":"Allow","NotAction":"codepipeline:Delete*","NotResource":"arn:aws:codepipeline:*:*:Secret*"}]}"#;
        let r = &format!("{ACCOUNT_ARN}:Pub");
        assert_eq!(decide(&[p], "codepipeline:GetPipeline", r), Decision::Allow);
        assert_eq!(
            decide(&[p], "codepipeline:DeletePipeline", r),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                &[p],
                "codepipeline:GetPipeline",
                &format!("{ACCOUNT_ARN}:SecretOne")
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn policy_variables_are_substituted_in_resources() {
        let p = r#"{"Statement":[{"Effect":"Allow","Action":"codepipeline:GetPipeline","Resource":"arn:aws:codepipeline:*:*:${aws:username}-*"}]}"#;
        assert_eq!(
            decide(
                &[p],
                "codepipeline:GetPipeline",
                &format!("{ACCOUNT_ARN}:JaneDoe-app")
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &[p],
                "codepipeline:GetPipeline",
                &format!("{ACCOUNT_ARN}:Bob-app")
            ),
            Decision::ImplicitDeny
        );
        let missing = r#"{"Statement":[{"Effect":"Allow","Action":"codepipeline:GetPipeline","Resource":"arn:aws:codepipeline:*:*:${aws:userid}"}]}"#;
        assert_eq!(
            decide(
                &[missing],
                "codepipeline:GetPipeline",
                &format!("{ACCOUNT_ARN}:x")
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn trust_policies_name_services_accounts_and_arns() {
        let p = Policy::parse_trust(r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com","AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#).expect("parses");
        let c = Context::default();
        assert!(p.trusts(
            None,
            Some("codepipeline.amazonaws.com"),
            "sts:AssumeRole",
            &c
        ));
        assert!(!p.trusts(None, Some("codebuild.amazonaws.com"), "sts:AssumeRole", &c));
        assert!(p.trusts(
            Some("arn:aws:iam::111111111111:user/Bob"),
            None,
            "sts:AssumeRole",
            &c
        ));
        assert!(!p.trusts(
            Some("arn:aws:iam::222222222222:user/Bob"),
            None,
            "sts:AssumeRole",
            &c
        ));
    }
}
