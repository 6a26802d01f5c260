//! IAM: users, groups, roles, access keys, inline and managed policies, and the decision
//! whether a caller may perform an action on a resource. The account root may do anything;
//! everyone else needs a policy that allows it and none that denies it.

use crate::{Caller, Error, Result, Sluice};
use sluice_policy::managed::{managed_policy, MANAGED_POLICIES};
use sluice_policy::{Context, Decision, Policy};
use sluice_store::{AccessKeyRecord, ManagedPolicyRecord, PrincipalKind, PrincipalRecord};
use std::sync::Arc;

/// How many access keys a user may have, as in IAM.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
/// How many managed policies may be attached to one principal, as in IAM.
pub const MAX_ATTACHED_POLICIES: usize = 10;

/// A managed policy, built in or the account's own.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPolicyView {
    pub record: ManagedPolicyRecord,
    pub attachment_count: i64,
    /// AWS managed (`arn:aws:iam::aws:policy/…`).
    pub aws_managed: bool,
}

/// Which policies `ListPolicies` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    All,
    Aws,
    Local,
}

/// What the request looked like, for condition keys.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub source_ip: String,
    pub user_agent: String,
    pub secure_transport: bool,
}

fn check_name(what: &str, name: &str, max: usize) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Validation(format!(
            "1 validation error detected: Value '{name}' at '{what}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and {max}"
        )))
    }
}

fn check_path(path: &str) -> Result<String> {
    let ok = path == "/"
        || (path.len() <= 512
            && path.len() >= 2
            && path.starts_with('/')
            && path.ends_with('/')
            && path.chars().all(|c| ('!'..='~').contains(&c)));
    if ok {
        Ok(path.to_string())
    } else {
        Err(Error::Validation(format!(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters. ({path})"
        )))
    }
}

fn parse_identity_policy(document: &str, max_chars: usize) -> Result<Policy> {
    if document.chars().count() > max_chars {
        return Err(Error::LimitExceeded(format!(
            "Maximum policy size of {max_chars} bytes exceeded"
        )));
    }
    Policy::parse(document).map_err(|e| Error::MalformedPolicyDocument(e.0))
}

fn entity(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "user",
        PrincipalKind::Group => "group",
        PrincipalKind::Role => "role",
    }
}

impl Sluice {
    fn iam_arn(&self, kind: PrincipalKind, path: &str, name: &str) -> String {
        format!(
            "arn:aws:iam::{}:{}{path}{name}",
            self.options().account_id,
            entity(kind)
        )
    }

    /// `PREFIX` + `len` characters of IAM's id alphabet, from the injected id source.
    fn iam_id(&self, prefix: &str, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = prefix.to_string();
        while out.len() < prefix.len() + len {
            let seed = sha2_bytes(&self.new_id());
            out.extend(
                seed.iter()
                    .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
                    .take(prefix.len() + len - out.len()),
            );
        }
        out
    }

    /// Forgets cached keys and policies, so an IAM change applies to the next request here.
    fn iam_changed(&self) {
        self.inner
            .key_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.inner
            .policy_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    async fn principal_named(&self, kind: PrincipalKind, name: &str) -> Result<PrincipalRecord> {
        self.store().principal(kind, name).await?.ok_or_else(|| {
            Error::NoSuchEntity(format!(
                "The {} with name {name} cannot be found.",
                entity(kind)
            ))
        })
    }

    async fn create_principal(
        &self,
        kind: PrincipalKind,
        name: &str,
        path: Option<&str>,
        trust_policy: Option<String>,
        description: Option<String>,
    ) -> Result<PrincipalRecord> {
        let max = if kind == PrincipalKind::Group {
            128
        } else {
            64
        };
        check_name(&format!("{}Name", capitalized(kind)), name, max)?;
        let path = check_path(path.unwrap_or("/"))?;
        let prefix = match kind {
            PrincipalKind::User => "AIDA",
            PrincipalKind::Group => "AGPA",
            PrincipalKind::Role => "AROA",
        };
        let record = PrincipalRecord {
            kind,
            name: name.into(),
            id: self.iam_id(prefix, 17),
            arn: self.iam_arn(kind, &path, name),
            path,
            created_ms: self.now_ms(),
            trust_policy,
            description,
        };
        match self.store().create_principal(&record).await {
            Ok(()) => Ok(record),
            Err(sluice_store::Error::AlreadyExists(_)) => Err(Error::EntityAlreadyExists(format!(
                "{} with name {name} already exists.",
                capitalized(kind)
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create_user(&self, name: &str, path: Option<&str>) -> Result<PrincipalRecord> {
        self.create_principal(PrincipalKind::User, name, path, None, None)
            .await
    }

    pub async fn create_group(&self, name: &str, path: Option<&str>) -> Result<PrincipalRecord> {
        self.create_principal(PrincipalKind::Group, name, path, None, None)
            .await
    }

    /// A role with its trust policy (`AssumeRolePolicyDocument`).
    pub async fn create_role(
        &self,
        name: &str,
        path: Option<&str>,
        trust_policy: &str,
        description: Option<String>,
    ) -> Result<PrincipalRecord> {
        Policy::parse_trust(trust_policy).map_err(|e| Error::MalformedPolicyDocument(e.0))?;
        self.create_principal(
            PrincipalKind::Role,
            name,
            path,
            Some(trust_policy.into()),
            description,
        )
        .await
    }

    pub async fn update_assume_role_policy(&self, role: &str, trust_policy: &str) -> Result<()> {
        Policy::parse_trust(trust_policy).map_err(|e| Error::MalformedPolicyDocument(e.0))?;
        let role = self.principal_named(PrincipalKind::Role, role).await?;
        self.store()
            .set_trust_policy(&role.name, trust_policy)
            .await?;
        Ok(())
    }

    pub async fn principal(&self, kind: PrincipalKind, name: &str) -> Result<PrincipalRecord> {
        self.principal_named(kind, name).await
    }

    /// The user a call names, or the calling user when it names none (IAM's `GetUser`).
    pub async fn user_or_caller(
        &self,
        name: Option<&str>,
        caller: &Caller,
    ) -> Result<PrincipalRecord> {
        match (name, &caller.principal) {
            (Some(n), _) => self.principal_named(PrincipalKind::User, n).await,
            (None, Some((PrincipalKind::User, n))) => {
                self.principal_named(PrincipalKind::User, n).await
            }
            (None, _) if caller.arn == self.root_arn() => Ok(PrincipalRecord {
                kind: PrincipalKind::User,
                name: String::new(),
                id: self.options().account_id.clone(),
                arn: caller.arn.clone(),
                path: "/".into(),
                created_ms: 0,
                trust_policy: None,
                description: None,
            }),
            (None, _) => Err(Error::Validation(
                "Must specify userName when calling with non-User credentials".into(),
            )),
        }
    }

    pub async fn list_principals(
        &self,
        kind: PrincipalKind,
        path_prefix: Option<&str>,
    ) -> Result<Vec<PrincipalRecord>> {
        let all = self.store().list_principals(kind).await?;
        Ok(all
            .into_iter()
            .filter(|p| path_prefix.is_none_or(|pre| p.path.starts_with(pre)))
            .collect())
    }

    /// Deletes a user, group or role that holds nothing any more; `DeleteConflict` otherwise.
    pub async fn delete_principal(&self, kind: PrincipalKind, name: &str) -> Result<()> {
        let p = self.principal_named(kind, name).await?;
        let store = self.store();
        let conflict =
            |what: &str| Error::DeleteConflict(format!("Cannot delete entity, must {what} first."));
        if !store.inline_policies(kind, &p.name).await?.is_empty() {
            return Err(conflict("delete policies"));
        }
        if !store.attached_policies(kind, &p.name).await?.is_empty() {
            return Err(conflict("detach all policies"));
        }
        match kind {
            PrincipalKind::User => {
                if !store.list_access_keys(&p.arn).await?.is_empty() {
                    return Err(conflict("delete access keys"));
                }
                if !store.user_groups(&p.name).await?.is_empty() {
                    return Err(conflict("remove users from group"));
                }
            }
            PrincipalKind::Group => {
                if !store.group_members(&p.name).await?.is_empty() {
                    return Err(conflict("remove users from group"));
                }
            }
            PrincipalKind::Role => {}
        }
        store.delete_principal(kind, &p.name).await?;
        self.iam_changed();
        Ok(())
    }

    pub async fn add_user_to_group(&self, group: &str, user: &str) -> Result<()> {
        let g = self.principal_named(PrincipalKind::Group, group).await?;
        let u = self.principal_named(PrincipalKind::User, user).await?;
        self.store().add_group_member(&g.name, &u.name).await?;
        self.iam_changed();
        Ok(())
    }

    pub async fn remove_user_from_group(&self, group: &str, user: &str) -> Result<()> {
        let g = self.principal_named(PrincipalKind::Group, group).await?;
        let u = self.principal_named(PrincipalKind::User, user).await?;
        if !self.store().remove_group_member(&g.name, &u.name).await? {
            return Err(Error::NoSuchEntity(format!(
                "User {user} is not in group {group}."
            )));
        }
        self.iam_changed();
        Ok(())
    }

    /// The group and its users.
    pub async fn group_with_users(
        &self,
        group: &str,
    ) -> Result<(PrincipalRecord, Vec<PrincipalRecord>)> {
        let g = self.principal_named(PrincipalKind::Group, group).await?;
        let mut users = Vec::new();
        for name in self.store().group_members(&g.name).await? {
            if let Some(u) = self.store().principal(PrincipalKind::User, &name).await? {
                users.push(u);
            }
        }
        Ok((g, users))
    }

    pub async fn groups_for_user(&self, user: &str) -> Result<Vec<PrincipalRecord>> {
        let u = self.principal_named(PrincipalKind::User, user).await?;
        let mut groups = Vec::new();
        for name in self.store().user_groups(&u.name).await? {
            if let Some(g) = self.store().principal(PrincipalKind::Group, &name).await? {
                groups.push(g);
            }
        }
        Ok(groups)
    }

    /// The ARN whose keys a call manages: the named user's, or the caller's own.
    async fn key_owner(&self, user: Option<&str>, caller: &Caller) -> Result<(String, String)> {
        let u = self.user_or_caller(user, caller).await?;
        Ok((u.arn, u.name))
    }

    /// A new access key; the secret is shown only in this answer.
    pub async fn create_access_key(
        &self,
        user: Option<&str>,
        caller: &Caller,
    ) -> Result<(AccessKeyRecord, String)> {
        let (arn, name) = self.key_owner(user, caller).await?;
        let secret: String = {
            use base64::Engine;
            let mut seed = sha2_bytes(&self.new_id()).to_vec();
            seed.extend(sha2_bytes(&self.new_id()));
            base64::engine::general_purpose::STANDARD.encode(&seed[..30])
        };
        let mut key = AccessKeyRecord {
            access_key_id: self.iam_id("AKIA", 16),
            secret_access_key: sluice_model::Secret::new(
                self.seal(crate::sealing::Purpose::AccessKey, &secret)?,
            ),
            principal_arn: arn,
            created_ms: self.now_ms(),
            status: "Active".into(),
        };
        self.store()
            .create_access_key(&key, MAX_ACCESS_KEYS_PER_USER)
            .await?;
        key.secret_access_key = sluice_model::Secret::new(secret);
        Ok((key, name))
    }

    pub async fn list_access_keys(
        &self,
        user: Option<&str>,
        caller: &Caller,
    ) -> Result<(Vec<AccessKeyRecord>, String)> {
        let (arn, name) = self.key_owner(user, caller).await?;
        Ok((self.store().list_access_keys(&arn).await?, name))
    }

    async fn owned_key(
        &self,
        user: Option<&str>,
        caller: &Caller,
        id: &str,
    ) -> Result<AccessKeyRecord> {
        let (arn, _) = self.key_owner(user, caller).await?;
        match self.store().find_access_key(id).await? {
            Some(k) if k.principal_arn == arn => Ok(k),
            _ => Err(Error::NoSuchEntity(format!(
                "The Access Key with id {id} cannot be found."
            ))),
        }
    }

    pub async fn update_access_key(
        &self,
        user: Option<&str>,
        caller: &Caller,
        id: &str,
        status: &str,
    ) -> Result<()> {
        if !matches!(status, "Active" | "Inactive") {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
            )));
        }
        let key = self.owned_key(user, caller, id).await?;
        self.store()
            .set_access_key_status(&key.access_key_id, status)
            .await?;
        self.iam_changed();
        Ok(())
    }

    pub async fn delete_access_key(
        &self,
        user: Option<&str>,
        caller: &Caller,
        id: &str,
    ) -> Result<()> {
        let key = self.owned_key(user, caller, id).await?;
        self.store().delete_access_key(&key.access_key_id).await?;
        self.iam_changed();
        Ok(())
    }

    pub async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
        document: &str,
    ) -> Result<()> {
        check_name("policyName", name, 128)?;
        parse_identity_policy(document, sluice_policy::MAX_INLINE_POLICY_CHARS)?;
        let p = self.principal_named(kind, principal).await?;
        self.store()
            .put_inline_policy(kind, &p.name, name, document)
            .await?;
        self.iam_changed();
        Ok(())
    }

    pub async fn inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
    ) -> Result<(String, String)> {
        let p = self.principal_named(kind, principal).await?;
        self.store()
            .inline_policies(kind, &p.name)
            .await?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, doc)| (p.name.clone(), doc))
            .ok_or_else(|| {
                Error::NoSuchEntity(format!(
                    "The {} policy with name {name} cannot be found.",
                    entity(kind)
                ))
            })
    }

    pub async fn inline_policy_names(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<String>> {
        let p = self.principal_named(kind, principal).await?;
        Ok(self
            .store()
            .inline_policies(kind, &p.name)
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    pub async fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
    ) -> Result<()> {
        let p = self.principal_named(kind, principal).await?;
        if !self
            .store()
            .delete_inline_policy(kind, &p.name, name)
            .await?
        {
            return Err(Error::NoSuchEntity(format!(
                "The {} policy with name {name} cannot be found.",
                entity(kind)
            )));
        }
        self.iam_changed();
        Ok(())
    }

    pub async fn create_policy(
        &self,
        name: &str,
        path: Option<&str>,
        document: &str,
        description: Option<String>,
    ) -> Result<ManagedPolicyView> {
        check_name("policyName", name, 128)?;
        let path = check_path(path.unwrap_or("/"))?;
        parse_identity_policy(document, sluice_policy::MAX_MANAGED_POLICY_CHARS)?;
        let now = self.now_ms();
        let record = ManagedPolicyRecord {
            arn: format!(
                "arn:aws:iam::{}:policy{path}{name}",
                self.options().account_id
            ),
            name: name.into(),
            id: self.iam_id("ANPA", 17),
            path,
            description,
            document: document.into(),
            created_ms: now,
            updated_ms: now,
        };
        match self.store().create_managed_policy(&record).await {
            Ok(()) => Ok(ManagedPolicyView {
                record,
                attachment_count: 0,
                aws_managed: false,
            }),
            Err(sluice_store::Error::AlreadyExists(_)) => Err(Error::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    fn built_in(&self, p: &sluice_policy::managed::ManagedPolicy) -> ManagedPolicyRecord {
        ManagedPolicyRecord {
            arn: p.arn(),
            name: p.name.into(),
            id: format!(
                "ANPA{}",
                &sluice_model::hex(&sha2_bytes(p.name))[..17].to_uppercase()
            ),
            path: "/".into(),
            description: Some(p.description.into()),
            document: p.document.into(),
            created_ms: 1_436_486_400_000,
            updated_ms: 1_436_486_400_000,
        }
    }

    pub async fn managed_policy(&self, arn: &str) -> Result<ManagedPolicyView> {
        let (record, aws_managed) = match managed_policy(arn) {
            Some(p) => (self.built_in(p), true),
            None => (
                self.store().managed_policy(arn).await?.ok_or_else(|| {
                    Error::NoSuchEntity(format!(
                        "Policy {arn} does not exist or is not attachable."
                    ))
                })?,
                false,
            ),
        };
        let attachment_count = self.store().policy_attachment_count(&record.arn).await?;
        Ok(ManagedPolicyView {
            record,
            attachment_count,
            aws_managed,
        })
    }

    pub async fn list_policies(
        &self,
        scope: PolicyScope,
        only_attached: bool,
    ) -> Result<Vec<ManagedPolicyView>> {
        let mut out = Vec::new();
        if scope != PolicyScope::Local {
            for p in MANAGED_POLICIES {
                out.push(self.managed_policy(&p.arn()).await?);
            }
        }
        if scope != PolicyScope::Aws {
            for record in self.store().list_managed_policies().await? {
                let attachment_count = self.store().policy_attachment_count(&record.arn).await?;
                out.push(ManagedPolicyView {
                    record,
                    attachment_count,
                    aws_managed: false,
                });
            }
        }
        out.retain(|p| !only_attached || p.attachment_count > 0);
        Ok(out)
    }

    pub async fn delete_policy(&self, arn: &str) -> Result<()> {
        let view = self.managed_policy(arn).await?;
        if view.aws_managed {
            return Err(Error::AccessDenied(format!(
                "Cannot delete the AWS managed policy {arn}."
            )));
        }
        if view.attachment_count > 0 {
            return Err(Error::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        self.store().delete_managed_policy(arn).await?;
        Ok(())
    }

    pub async fn attach_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<()> {
        let p = self.principal_named(kind, principal).await?;
        self.managed_policy(arn).await?;
        let attached = self.store().attached_policies(kind, &p.name).await?;
        if !attached.iter().any(|a| a == arn) && attached.len() >= MAX_ATTACHED_POLICIES {
            return Err(Error::LimitExceeded(format!(
                "Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED_POLICIES}"
            )));
        }
        self.store().attach_policy(kind, &p.name, arn).await?;
        self.iam_changed();
        Ok(())
    }

    pub async fn detach_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<()> {
        let p = self.principal_named(kind, principal).await?;
        if !self.store().detach_policy(kind, &p.name, arn).await? {
            return Err(Error::NoSuchEntity(format!("Policy {arn} was not found.")));
        }
        self.iam_changed();
        Ok(())
    }

    /// `(name, arn)` of every managed policy attached to the principal.
    pub async fn attached_policies(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<(String, String)>> {
        let p = self.principal_named(kind, principal).await?;
        let mut out = Vec::new();
        for arn in self.store().attached_policies(kind, &p.name).await? {
            let name = arn.rsplit('/').next().unwrap_or(&arn).to_string();
            out.push((name, arn));
        }
        Ok(out)
    }

    /// Every document that applies to a principal: its inline and attached policies, and
    /// for a user those of its groups.
    async fn policy_documents(&self, kind: PrincipalKind, name: &str) -> Result<Vec<String>> {
        let store = self.store();
        let mut holders = vec![(kind, name.to_string())];
        if kind == PrincipalKind::User {
            for g in store.user_groups(name).await? {
                holders.push((PrincipalKind::Group, g));
            }
        }
        let mut docs = Vec::new();
        for (k, n) in holders {
            docs.extend(
                store
                    .inline_policies(k, &n)
                    .await?
                    .into_iter()
                    .map(|(_, d)| d),
            );
            for arn in store.attached_policies(k, &n).await? {
                match managed_policy(&arn) {
                    Some(p) => docs.push(p.document.to_string()),
                    None => {
                        if let Some(p) = store.managed_policy(&arn).await? {
                            docs.push(p.document);
                        }
                    }
                }
            }
        }
        Ok(docs)
    }

    /// The parsed policies of a caller, remembered like verified keys.
    async fn caller_policies(&self, kind: PrincipalKind, name: &str) -> Result<Arc<Vec<Policy>>> {
        let key = format!("{}/{name}", kind.as_str());
        let now = self.now_ms();
        if let Some((policies, at)) = self
            .inner
            .policy_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if now >= *at && now - at < crate::KEY_CACHE_MS {
                return Ok(policies.clone());
            }
        }
        let policies: Vec<Policy> = self
            .policy_documents(kind, name)
            .await?
            .iter()
            // Stored documents were checked when written; one that no longer parses grants nothing.
            .filter_map(|d| Policy::parse(d).ok())
            .collect();
        let policies = Arc::new(policies);
        let mut cache = self
            .inner
            .policy_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if cache.len() >= crate::KEY_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (policies.clone(), now));
        Ok(policies)
    }

    /// Whether the caller may perform `action` on `resource`; `AccessDenied` worded as AWS
    /// words it when not.
    pub async fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        info: &RequestInfo,
    ) -> Result<()> {
        let Some((kind, name)) = &caller.principal else {
            // The account root is not subject to identity policies.
            return Ok(());
        };
        let policies = self.caller_policies(*kind, name).await?;
        let now = self.now_ms();
        let mut context = Context::default();
        context.set("aws:CurrentTime", sluice_model::time::iso_seconds(now));
        context.set("aws:EpochTime", (now / 1000).to_string());
        context.set("aws:SourceIp", info.source_ip.clone());
        context.set("aws:UserAgent", info.user_agent.clone());
        context.set("aws:SecureTransport", info.secure_transport.to_string());
        context.set("aws:PrincipalArn", caller.arn.clone());
        context.set("aws:PrincipalAccount", self.options().account_id.clone());
        context.set("aws:RequestedRegion", self.options().region.clone());
        context.set(
            "aws:PrincipalType",
            if *kind == PrincipalKind::Role {
                "AssumedRole"
            } else {
                "User"
            },
        );
        if *kind == PrincipalKind::User {
            context.set("aws:username", name.clone());
        }
        if let Some(id) = &caller.principal_id {
            context.set("aws:userid", id.clone());
        }
        let request = sluice_policy::Request {
            action,
            resource,
            context: &context,
        };
        let why = match sluice_policy::evaluate(policies.iter(), &request) {
            Decision::Allow => return Ok(()),
            Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            Decision::ImplicitDeny => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        Err(Error::AccessDenied(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
            caller.arn
        )))
    }
}

impl Sluice {
    /// Whether the role a job's action runs as (its `roleArn`, else the pipeline's) may do
    /// `action` on `resource`: the server's own providers act with that role's permissions.
    /// Denials name the role's session as AWS does.
    pub async fn authorize_job(
        &self,
        job: &crate::Job,
        action: &str,
        resource: &str,
    ) -> Result<()> {
        let Some(role_arn) = &job.role_arn else {
            return Ok(());
        };
        let name = role_arn.rsplit('/').next().unwrap_or_default().to_string();
        let caller = Caller {
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{name}/{}",
                self.options().account_id,
                job.pipeline
            ),
            access_key_id: String::new(),
            principal: Some((PrincipalKind::Role, name)),
            principal_id: None,
        };
        self.authorize(&caller, action, resource, &RequestInfo::default())
            .await
    }

    /// Creates the account's default service role `AWS-CodePipeline-Service` (trusting
    /// CodePipeline, with the guide's default policy) unless a role of that name exists.
    pub async fn ensure_default_service_role(&self) -> Result<()> {
        use sluice_policy::managed::{
            DEFAULT_SERVICE_ROLE, DEFAULT_SERVICE_ROLE_POLICY, SERVICE_ROLE_TRUST_POLICY,
        };
        if self
            .store()
            .principal(PrincipalKind::Role, DEFAULT_SERVICE_ROLE)
            .await?
            .is_some()
        {
            return Ok(());
        }
        match self
            .create_role(
                DEFAULT_SERVICE_ROLE,
                None,
                SERVICE_ROLE_TRUST_POLICY,
                Some("The default service role of AWS CodePipeline".into()),
            )
            .await
        {
            Ok(_) | Err(Error::EntityAlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
        self.put_inline_policy(
            PrincipalKind::Role,
            DEFAULT_SERVICE_ROLE,
            DEFAULT_SERVICE_ROLE,
            DEFAULT_SERVICE_ROLE_POLICY,
        )
        .await
    }

    /// The ARN of the account's default service role.
    pub fn default_service_role_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:role/{}",
            self.options().account_id,
            sluice_policy::managed::DEFAULT_SERVICE_ROLE
        )
    }

    /// The role a pipeline or action names must exist in this account and trust CodePipeline,
    /// or CodePipeline could not assume it.
    pub(crate) async fn check_roles(
        &self,
        pipeline: &sluice_model::PipelineDeclaration,
    ) -> Result<()> {
        let mut roles = vec![pipeline.role_arn.as_str()];
        roles.extend(
            pipeline
                .stages
                .iter()
                .flat_map(|s| &s.actions)
                .filter_map(|a| a.role_arn.as_deref()),
        );
        roles.sort_unstable();
        roles.dedup();
        let mut problems = Vec::new();
        for arn in roles {
            if let Err(why) = self.assumable_by_codepipeline(arn).await? {
                // AWS's words name the role only; why is for the operator's log.
                tracing::info!(role = arn, reason = %why, "a pipeline's role cannot be assumed");
                problems.push(sluice_model::Problem {
                    kind: sluice_model::ProblemKind::Structure,
                    message: format!(
                        "CodePipeline is not authorized to perform AssumeRole on role {arn}"
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidDeclaration(problems))
        }
    }

    async fn assumable_by_codepipeline(
        &self,
        arn: &str,
    ) -> Result<std::result::Result<(), String>> {
        let Some((account, name)) = role_of_arn(arn) else {
            return Ok(Err(
                "it is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)".into()
            ));
        };
        if account != self.options().account_id {
            return Ok(Err(format!(
                "the role is in account {account}; this server holds account {}",
                self.options().account_id
            )));
        }
        let Some(role) = self.store().principal(PrincipalKind::Role, name).await? else {
            return Ok(Err("the role does not exist".into()));
        };
        if role.arn != arn {
            return Ok(Err(format!("the role's ARN is {}", role.arn)));
        }
        let trusted = role_trusts(
            &role,
            None,
            Some(sluice_policy::managed::CODEPIPELINE_SERVICE),
        );
        Ok(if trusted {
            Ok(())
        } else {
            Err("its trust policy does not let codepipeline.amazonaws.com assume it".into())
        })
    }
}

/// Whether a role's trust policy lets the principal (an IAM ARN or a service) assume it.
pub(crate) fn role_trusts(
    role: &PrincipalRecord,
    arn: Option<&str>,
    service: Option<&str>,
) -> bool {
    role.trust_policy
        .as_deref()
        .and_then(|t| Policy::parse_trust(t).ok())
        .is_some_and(|p| p.trusts(arn, service, "sts:AssumeRole", &Context::default()))
}

/// `(account, name)` of `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
pub(crate) fn role_of_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_and_name = resource.strip_prefix("role/")?;
    let name = path_and_name.rsplit('/').next()?;
    (!name.is_empty()).then_some((account, name))
}

fn capitalized(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "User",
        PrincipalKind::Group => "Group",
        PrincipalKind::Role => "Role",
    }
}

fn sha2_bytes(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}
