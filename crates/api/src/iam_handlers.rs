//! The IAM (and STS) operations of the Query protocol subset. Each answer is built once as a
//! small tree that renders both as the XML the client reads and as the JSON the trail keeps.

use crate::query::Params;
use crate::xml;
use axum::http::StatusCode;
use serde_json::Value;
use sluice_service::{
    AccessKeyRecord, Caller, ManagedPolicyView, PolicyScope, PrincipalKind, PrincipalRecord, Sluice,
};

/// An IAM error as the Query protocol reports it.
#[derive(Debug, Clone)]
pub struct IamError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl IamError {
    pub fn new(status: StatusCode, code: &'static str, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_string(),
        }
    }

    pub fn internal(message: String) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ServiceFailure",
            message,
        }
    }
}

impl From<sluice_service::Error> for IamError {
    fn from(e: sluice_service::Error) -> Self {
        use sluice_service::Error as S;
        let (status, code) = match &e {
            S::NoSuchEntity(_) => (StatusCode::NOT_FOUND, "NoSuchEntity"),
            S::EntityAlreadyExists(_) => (StatusCode::CONFLICT, "EntityAlreadyExists"),
            S::DeleteConflict(_) => (StatusCode::CONFLICT, "DeleteConflict"),
            S::MalformedPolicyDocument(_) => (StatusCode::BAD_REQUEST, "MalformedPolicyDocument"),
            S::LimitExceeded(_) => (StatusCode::CONFLICT, "LimitExceeded"),
            S::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
            S::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
            S::Internal(m) => return IamError::internal(m.clone()),
            _ => (StatusCode::BAD_REQUEST, "InvalidInput"),
        };
        IamError {
            status,
            code,
            message: e.to_string(),
        }
    }
}

/// An answer: text, a structure of named fields, or a list (`<member>` items in XML).
enum Node {
    Text(String),
    Fields(Vec<(&'static str, Node)>),
    List(Vec<Node>),
}

fn t(s: impl Into<String>) -> Node {
    Node::Text(s.into())
}

impl Node {
    fn xml(&self) -> String {
        match self {
            Node::Text(s) => xml::escape(s),
            Node::Fields(fields) => fields
                .iter()
                .map(|(k, v)| format!("<{k}>{}</{k}>", v.xml()))
                .collect(),
            Node::List(items) => items
                .iter()
                .map(|v| format!("<member>{}</member>", v.xml()))
                .collect(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Node::Text(s) => Value::String(s.clone()),
            Node::Fields(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| {
                        let key = k.get(..1).map(str::to_lowercase).unwrap_or_default()
                            + k.get(1..).unwrap_or("");
                        (key, v.json())
                    })
                    .collect(),
            ),
            Node::List(items) => Value::Array(items.iter().map(Node::json).collect()),
        }
    }
}

fn date(ms: i64) -> Node {
    t(sluice_model::time::iso_seconds(ms))
}

/// Policy documents travel URL-encoded in IAM's answers (the CLI and SDKs decode them).
fn document(doc: &str) -> Node {
    t(sluice_sigv4::uri_encode(doc, false))
}

fn principal_node(p: &PrincipalRecord) -> Node {
    let (name, id) = match p.kind {
        PrincipalKind::User => ("UserName", "UserId"),
        PrincipalKind::Group => ("GroupName", "GroupId"),
        PrincipalKind::Role => ("RoleName", "RoleId"),
    };
    let mut fields = vec![
        ("Path", t(&p.path)),
        (name, t(&p.name)),
        (id, t(&p.id)),
        ("Arn", t(&p.arn)),
        ("CreateDate", date(p.created_ms)),
    ];
    if let Some(trust) = &p.trust_policy {
        fields.push(("AssumeRolePolicyDocument", document(trust)));
    }
    if let Some(d) = &p.description {
        fields.push(("Description", t(d)));
    }
    Node::Fields(fields)
}

fn key_node(user: &str, k: &AccessKeyRecord, with_secret: bool) -> Node {
    let mut fields = vec![
        ("UserName", t(user)),
        ("AccessKeyId", t(&k.access_key_id)),
        ("Status", t(&k.status)),
    ];
    if with_secret {
        fields.push(("SecretAccessKey", t(k.secret_access_key.expose())));
    }
    fields.push(("CreateDate", date(k.created_ms)));
    Node::Fields(fields)
}

fn policy_node(p: &ManagedPolicyView) -> Node {
    let r = &p.record;
    let mut fields = vec![
        ("PolicyName", t(&r.name)),
        ("DefaultVersionId", t("v1")),
        ("PolicyId", t(&r.id)),
        ("Path", t(&r.path)),
        ("Arn", t(&r.arn)),
        ("AttachmentCount", t(p.attachment_count.to_string())),
        ("PermissionsBoundaryUsageCount", t("0")),
        ("IsAttachable", t("true")),
    ];
    if let Some(d) = &r.description {
        fields.push(("Description", t(d)));
    }
    fields.push(("CreateDate", date(r.created_ms)));
    fields.push(("UpdateDate", date(r.updated_ms)));
    Node::Fields(fields)
}

/// A page of a listing (`Marker`, `MaxItems`), with the fields IAM adds.
fn page(field: &'static str, items: Vec<Node>, params: &Params) -> Result<Node, IamError> {
    page_after(Vec::new(), field, items, params)
}

/// A page that follows other fields of the answer (`GetGroup`'s `Group`, ...).
fn page_after(
    mut fields: Vec<(&'static str, Node)>,
    field: &'static str,
    items: Vec<Node>,
    params: &Params,
) -> Result<Node, IamError> {
    let start: usize = match params.get("Marker") {
        Some(m) => m.parse().map_err(|_| invalid("Invalid Marker"))?,
        None => 0,
    };
    let max: usize = match params.get("MaxItems") {
        Some(m) => m
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| invalid("MaxItems must be between 1 and 1000"))?,
        None => 100,
    };
    let total = items.len();
    let chosen: Vec<Node> = items.into_iter().skip(start).take(max).collect();
    let next = start + chosen.len();
    fields.push((field, Node::List(chosen)));
    fields.push(("IsTruncated", t((next < total).to_string())));
    if next < total {
        fields.push(("Marker", t(next.to_string())));
    }
    Ok(Node::Fields(fields))
}

fn invalid(message: &str) -> IamError {
    IamError::new(StatusCode::BAD_REQUEST, "ValidationError", message)
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, IamError> {
    params.get(name).map(String::as_str).ok_or_else(|| {
        invalid(&format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            name.get(..1).map(str::to_lowercase).unwrap_or_default() + name.get(1..).unwrap_or("")
        ))
    })
}

fn kind_of(action: &str) -> Option<(PrincipalKind, &'static str)> {
    if action.contains("User") {
        Some((PrincipalKind::User, "UserName"))
    } else if action.contains("Group") {
        Some((PrincipalKind::Group, "GroupName"))
    } else if action.contains("Role") {
        Some((PrincipalKind::Role, "RoleName"))
    } else {
        None
    }
}

/// The resource an IAM action touches, for authorization and the trail: the principal's or
/// policy's ARN (with its path), `*` for account-wide listings.
pub async fn resource(sluice: &Sluice, caller: &Caller, action: &str, params: &Params) -> String {
    let account = &sluice.options().account_id;
    let path = params.get("Path").map(String::as_str).unwrap_or("/");
    let arn_of = |kind: PrincipalKind, name: &str| {
        format!("arn:aws:iam::{account}:{}{path}{name}", kind.as_str())
    };
    let existing = |kind: PrincipalKind, name: String| async move {
        match sluice.principal(kind, &name).await {
            Ok(p) => p.arn,
            Err(_) => format!("arn:aws:iam::{account}:{}/{name}", kind.as_str()),
        }
    };
    let param = |k: &str| params.get(k).cloned();
    match action {
        "CreatePolicy" => format!(
            "arn:aws:iam::{account}:policy{path}{}",
            param("PolicyName").unwrap_or_default()
        ),
        "GetPolicy" | "GetPolicyVersion" | "DeletePolicy" => {
            param("PolicyArn").unwrap_or_else(|| "*".into())
        }
        "CreateUser" => arn_of(PrincipalKind::User, &param("UserName").unwrap_or_default()),
        "CreateGroup" => arn_of(
            PrincipalKind::Group,
            &param("GroupName").unwrap_or_default(),
        ),
        "CreateRole" => arn_of(PrincipalKind::Role, &param("RoleName").unwrap_or_default()),
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            existing(PrincipalKind::Group, param("GroupName").unwrap_or_default()).await
        }
        "ListUsers" | "ListGroups" | "ListRoles" | "ListPolicies" | "GetCallerIdentity" => {
            "*".into()
        }
        "AssumeRole" => param("RoleArn").unwrap_or_else(|| "*".into()),
        _ => match kind_of(action).and_then(|(kind, field)| Some((kind, param(field)?))) {
            Some((kind, name)) => existing(kind, name).await,
            // Access-key calls without a user name act on the caller's own keys.
            None => caller.arn.clone(),
        },
    }
}

/// Runs one operation; the answer's XML body and its JSON for the trail.
pub async fn call(
    sluice: &Sluice,
    caller: &Caller,
    action: &str,
    params: &Params,
) -> Result<(String, Value), IamError> {
    let node = run(sluice, caller, action, params).await?;
    Ok(match node {
        None => (String::new(), Value::Null),
        Some(n) => (n.xml(), n.json()),
    })
}

async fn run(
    sluice: &Sluice,
    caller: &Caller,
    action: &str,
    p: &Params,
) -> Result<Option<Node>, IamError> {
    let opt = |k: &str| p.get(k).map(String::as_str);
    let one = |field: &'static str, n: Node| Ok(Some(Node::Fields(vec![(field, n)])));
    let kind = kind_of(action);
    let named = || -> Result<(PrincipalKind, &str), IamError> {
        let (kind, field) = kind.ok_or_else(|| invalid("no principal"))?;
        Ok((kind, required(p, field)?))
    };
    match action {
        "CreateUser" => one(
            "User",
            principal_node(
                &sluice
                    .create_user(required(p, "UserName")?, opt("Path"))
                    .await?,
            ),
        ),
        "CreateGroup" => one(
            "Group",
            principal_node(
                &sluice
                    .create_group(required(p, "GroupName")?, opt("Path"))
                    .await?,
            ),
        ),
        "CreateRole" => one(
            "Role",
            principal_node(
                &sluice
                    .create_role(
                        required(p, "RoleName")?,
                        opt("Path"),
                        required(p, "AssumeRolePolicyDocument")?,
                        opt("Description").map(str::to_string),
                    )
                    .await?,
            ),
        ),
        "GetUser" => one(
            "User",
            principal_node(&sluice.user_or_caller(opt("UserName"), caller).await?),
        ),
        "GetRole" => one(
            "Role",
            principal_node(
                &sluice
                    .principal(PrincipalKind::Role, required(p, "RoleName")?)
                    .await?,
            ),
        ),
        "GetGroup" => {
            let (group, users) = sluice.group_with_users(required(p, "GroupName")?).await?;
            let users = users.iter().map(principal_node).collect();
            Ok(Some(page_after(
                vec![("Group", principal_node(&group))],
                "Users",
                users,
                p,
            )?))
        }
        "ListUsers" | "ListGroups" | "ListRoles" => {
            let (kind, field) = match action {
                "ListUsers" => (PrincipalKind::User, "Users"),
                "ListGroups" => (PrincipalKind::Group, "Groups"),
                _ => (PrincipalKind::Role, "Roles"),
            };
            let all = sluice.list_principals(kind, opt("PathPrefix")).await?;
            Ok(Some(page(
                field,
                all.iter().map(principal_node).collect(),
                p,
            )?))
        }
        "ListGroupsForUser" => {
            let groups = sluice.groups_for_user(required(p, "UserName")?).await?;
            Ok(Some(page(
                "Groups",
                groups.iter().map(principal_node).collect(),
                p,
            )?))
        }
        "DeleteUser" | "DeleteGroup" | "DeleteRole" => {
            let (kind, name) = named()?;
            sluice.delete_principal(kind, name).await?;
            Ok(None)
        }
        "AddUserToGroup" => {
            sluice
                .add_user_to_group(required(p, "GroupName")?, required(p, "UserName")?)
                .await?;
            Ok(None)
        }
        "RemoveUserFromGroup" => {
            sluice
                .remove_user_from_group(required(p, "GroupName")?, required(p, "UserName")?)
                .await?;
            Ok(None)
        }
        "UpdateAssumeRolePolicy" => {
            sluice
                .update_assume_role_policy(required(p, "RoleName")?, required(p, "PolicyDocument")?)
                .await?;
            Ok(None)
        }
        "CreateAccessKey" => {
            let (key, user) = sluice.create_access_key(opt("UserName"), caller).await?;
            one("AccessKey", key_node(&user, &key, true))
        }
        "ListAccessKeys" => {
            let (keys, user) = sluice.list_access_keys(opt("UserName"), caller).await?;
            let items = keys.iter().map(|k| key_node(&user, k, false)).collect();
            Ok(Some(page_after(
                vec![("UserName", t(&user))],
                "AccessKeyMetadata",
                items,
                p,
            )?))
        }
        "UpdateAccessKey" => {
            sluice
                .update_access_key(
                    opt("UserName"),
                    caller,
                    required(p, "AccessKeyId")?,
                    required(p, "Status")?,
                )
                .await?;
            Ok(None)
        }
        "DeleteAccessKey" => {
            sluice
                .delete_access_key(opt("UserName"), caller, required(p, "AccessKeyId")?)
                .await?;
            Ok(None)
        }
        "PutUserPolicy" | "PutGroupPolicy" | "PutRolePolicy" => {
            let (kind, name) = named()?;
            sluice
                .put_inline_policy(
                    kind,
                    name,
                    required(p, "PolicyName")?,
                    required(p, "PolicyDocument")?,
                )
                .await?;
            Ok(None)
        }
        "GetUserPolicy" | "GetGroupPolicy" | "GetRolePolicy" => {
            let (kind, name) = named()?;
            let policy = required(p, "PolicyName")?;
            let (principal, doc) = sluice.inline_policy(kind, name, policy).await?;
            let field = match kind {
                PrincipalKind::User => "UserName",
                PrincipalKind::Group => "GroupName",
                PrincipalKind::Role => "RoleName",
            };
            Ok(Some(Node::Fields(vec![
                (field, t(principal)),
                ("PolicyName", t(policy)),
                ("PolicyDocument", document(&doc)),
            ])))
        }
        "ListUserPolicies" | "ListGroupPolicies" | "ListRolePolicies" => {
            let (kind, name) = named()?;
            let names = sluice.inline_policy_names(kind, name).await?;
            Ok(Some(page(
                "PolicyNames",
                names.into_iter().map(t).collect(),
                p,
            )?))
        }
        "DeleteUserPolicy" | "DeleteGroupPolicy" | "DeleteRolePolicy" => {
            let (kind, name) = named()?;
            sluice
                .delete_inline_policy(kind, name, required(p, "PolicyName")?)
                .await?;
            Ok(None)
        }
        "AttachUserPolicy" | "AttachGroupPolicy" | "AttachRolePolicy" => {
            let (kind, name) = named()?;
            sluice
                .attach_policy(kind, name, required(p, "PolicyArn")?)
                .await?;
            Ok(None)
        }
        "DetachUserPolicy" | "DetachGroupPolicy" | "DetachRolePolicy" => {
            let (kind, name) = named()?;
            sluice
                .detach_policy(kind, name, required(p, "PolicyArn")?)
                .await?;
            Ok(None)
        }
        "ListAttachedUserPolicies" | "ListAttachedGroupPolicies" | "ListAttachedRolePolicies" => {
            let (kind, name) = named()?;
            let attached = sluice.attached_policies(kind, name).await?;
            let items = attached
                .into_iter()
                .map(|(n, a)| Node::Fields(vec![("PolicyName", t(n)), ("PolicyArn", t(a))]))
                .collect();
            Ok(Some(page("AttachedPolicies", items, p)?))
        }
        "CreatePolicy" => one(
            "Policy",
            policy_node(
                &sluice
                    .create_policy(
                        required(p, "PolicyName")?,
                        opt("Path"),
                        required(p, "PolicyDocument")?,
                        opt("Description").map(str::to_string),
                    )
                    .await?,
            ),
        ),
        "GetPolicy" => one(
            "Policy",
            policy_node(&sluice.managed_policy(required(p, "PolicyArn")?).await?),
        ),
        "GetPolicyVersion" => {
            let view = sluice.managed_policy(required(p, "PolicyArn")?).await?;
            let version = required(p, "VersionId")?;
            if version != "v1" {
                return Err(IamError::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchEntity",
                    &format!(
                        "Policy {} version {version} does not exist or is not attachable.",
                        view.record.arn
                    ),
                ));
            }
            one(
                "PolicyVersion",
                Node::Fields(vec![
                    ("Document", document(&view.record.document)),
                    ("VersionId", t("v1")),
                    ("IsDefaultVersion", t("true")),
                    ("CreateDate", date(view.record.created_ms)),
                ]),
            )
        }
        "ListPolicies" => {
            let scope = match opt("Scope").unwrap_or("All") {
                "All" => PolicyScope::All,
                "AWS" => PolicyScope::Aws,
                "Local" => PolicyScope::Local,
                other => return Err(invalid(&format!("1 validation error detected: Value '{other}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"))),
            };
            let only_attached = opt("OnlyAttached") == Some("true");
            let all = sluice.list_policies(scope, only_attached).await?;
            Ok(Some(page(
                "Policies",
                all.iter().map(policy_node).collect(),
                p,
            )?))
        }
        "DeletePolicy" => {
            sluice.delete_policy(required(p, "PolicyArn")?).await?;
            Ok(None)
        }
        "AssumeRole" => {
            let duration = match opt("DurationSeconds") {
                Some(d) => Some(
                    d.parse::<i64>()
                        .map_err(|_| invalid("DurationSeconds must be a number"))?,
                ),
                None => None,
            };
            let session = sluice
                .assume_role(
                    caller,
                    required(p, "RoleArn")?,
                    required(p, "RoleSessionName")?,
                    duration,
                )
                .await?;
            Ok(Some(Node::Fields(vec![
                (
                    "AssumedRoleUser",
                    Node::Fields(vec![
                        ("AssumedRoleId", t(&session.assumed_role_id)),
                        ("Arn", t(&session.arn)),
                    ]),
                ),
                (
                    "Credentials",
                    Node::Fields(vec![
                        ("AccessKeyId", t(&session.access_key_id)),
                        ("SecretAccessKey", t(session.secret_access_key.expose())),
                        ("SessionToken", t(&session.session_token)),
                        (
                            "Expiration",
                            t(sluice_model::time::iso_seconds(session.expires_ms)),
                        ),
                    ]),
                ),
            ])))
        }
        "GetCallerIdentity" => Ok(Some(Node::Fields(vec![
            ("Arn", t(&caller.arn)),
            (
                "UserId",
                t(caller
                    .principal_id
                    .clone()
                    .unwrap_or_else(|| sluice.options().account_id.clone())),
            ),
            ("Account", t(&sluice.options().account_id)),
        ]))),
        other => Err(IamError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!(
                "Could not find operation {other} for version {}",
                p.get("Version").map(String::as_str).unwrap_or("")
            ),
        )),
    }
}

/// The operations this subset answers; `docs/compatibility.md` lists them.
pub const IAM_OPERATIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "CreateGroup",
    "GetGroup",
    "ListGroups",
    "DeleteGroup",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "ListGroupsForUser",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "CreateAccessKey",
    "ListAccessKeys",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "PutUserPolicy",
    "GetUserPolicy",
    "ListUserPolicies",
    "DeleteUserPolicy",
    "PutGroupPolicy",
    "GetGroupPolicy",
    "ListGroupPolicies",
    "DeleteGroupPolicy",
    "PutRolePolicy",
    "GetRolePolicy",
    "ListRolePolicies",
    "DeleteRolePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "ListAttachedUserPolicies",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "ListAttachedGroupPolicies",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "CreatePolicy",
    "GetPolicy",
    "GetPolicyVersion",
    "ListPolicies",
    "DeletePolicy",
];

/// The STS operations this subset answers.
pub const STS_OPERATIONS: &[&str] = &["AssumeRole", "GetCallerIdentity"];
