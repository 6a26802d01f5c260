//! STS `AssumeRole`: temporary credentials for a role whose trust policy lets the caller in.
//! Like a job's credentials they are derived from the server's key (any replica verifies them
//! without a lookup): the session token carries the role, session name and expiry under a MAC,
//! and the key id and secret are derived from it. The role's policies apply to every call
//! made with them; deleting the role or its policies takes effect at once.

use crate::{Caller, Error, Result, Sluice};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sluice_store::PrincipalKind;

const SESSION_PREFIX: &str = "sluice-sts:";
/// AssumeRole's bounds on `DurationSeconds`.
pub const MIN_SESSION_SECS: i64 = 900;
pub const MAX_SESSION_SECS: i64 = 43_200;

/// Credentials of an assumed-role session.
#[derive(Clone, PartialEq, Eq)]
pub struct RoleSession {
    pub access_key_id: String,
    pub secret_access_key: sluice_model::Secret,
    pub session_token: String,
    pub expires_ms: i64,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub arn: String,
    /// `AROA…:SESSION`.
    pub assumed_role_id: String,
}

impl std::fmt::Debug for RoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleSession")
            .field("access_key_id", &self.access_key_id)
            .field("arn", &self.arn)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// Whether a session token is an assumed-role session of this server.
pub fn is_role_session_token(token: &str) -> bool {
    token.starts_with(SESSION_PREFIX)
}

/// Why a role session token does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionProblem {
    Invalid,
    Expired,
}

impl Sluice {
    pub(crate) fn session_from_payload(&self, payload: &str, role_id: &str) -> Option<RoleSession> {
        let mut parts = payload.splitn(3, '\n');
        let role = parts.next()?;
        let session = parts.next()?;
        let expires_ms: i64 = parts.next()?.parse().ok()?;
        let tokens = &self.inner.tokens;
        let id: String = tokens.derive("sts-access-key-id", payload)[..8]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Some(RoleSession {
            access_key_id: format!("ASIA{id}"),
            secret_access_key: sluice_model::Secret::new(
                URL_SAFE_NO_PAD.encode(&tokens.derive("sts-secret", payload)[..30]),
            ),
            session_token: format!("{SESSION_PREFIX}{}", tokens.sign("sts-session", payload)),
            expires_ms,
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{role}/{session}",
                self.options().account_id
            ),
            assumed_role_id: format!("{role_id}:{session}"),
        })
    }

    /// Assumes `role_arn` for `caller` if the role's trust policy lets the caller in.
    pub async fn assume_role(
        &self,
        caller: &Caller,
        role_arn: &str,
        session_name: &str,
        duration_secs: Option<i64>,
    ) -> Result<RoleSession> {
        let valid_name = (2..=64).contains(&session_name.len())
            && session_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !valid_name {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
            )));
        }
        let duration = duration_secs.unwrap_or(3600);
        if !(MIN_SESSION_SECS..=MAX_SESSION_SECS).contains(&duration) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between {MIN_SESSION_SECS} and {MAX_SESSION_SECS}"
            )));
        }
        let not_authorized = || {
            Error::AccessDenied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            ))
        };
        let (account, name) = crate::iam::role_of_arn(role_arn).ok_or_else(not_authorized)?;
        if account != self.options().account_id {
            return Err(not_authorized());
        }
        let role = self
            .store()
            .principal(PrincipalKind::Role, name)
            .await?
            .filter(|r| r.arn == role_arn)
            .ok_or_else(not_authorized)?;
        let trusted = crate::iam::role_trusts(&role, Some(&caller.arn), None);
        if !trusted {
            return Err(not_authorized());
        }
        let expires_ms = self.now_ms() + duration * 1000;
        let payload = format!("{}\n{session_name}\n{expires_ms}", role.name);
        self.session_from_payload(&payload, &role.id)
            .ok_or_else(|| Error::Internal("an assumed-role session could not be formed".into()))
    }

    /// The caller and secret a role session token stands for.
    pub async fn role_session(
        &self,
        session_token: &str,
    ) -> Result<std::result::Result<(RoleSession, Caller), SessionProblem>> {
        let Some(payload) = session_token
            .strip_prefix(SESSION_PREFIX)
            .and_then(|t| self.inner.tokens.verify("sts-session", t))
        else {
            return Ok(Err(SessionProblem::Invalid));
        };
        let role_name = payload.split('\n').next().unwrap_or_default();
        let Some(role) = self
            .store()
            .principal(PrincipalKind::Role, role_name)
            .await?
        else {
            return Ok(Err(SessionProblem::Invalid));
        };
        let Some(session) = self.session_from_payload(&payload, &role.id) else {
            return Ok(Err(SessionProblem::Invalid));
        };
        if self.now_ms() >= session.expires_ms {
            return Ok(Err(SessionProblem::Expired));
        }
        let caller = Caller {
            arn: session.arn.clone(),
            access_key_id: session.access_key_id.clone(),
            principal: Some((PrincipalKind::Role, role.name.clone())),
            principal_id: Some(session.assumed_role_id.clone()),
        };
        Ok(Ok((session, caller)))
    }
}
