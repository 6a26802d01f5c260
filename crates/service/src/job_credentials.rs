//! `artifactCredentials`: temporary keys a job's worker uses against the S3 endpoint. They are
//! derived from the server's key and the job id (so every replica and restart derives the same
//! ones), can read exactly the job's input artifacts and write exactly its outputs, and stop
//! working once the job is finished. A job may also write its own log (`sluice-logs`).

use crate::{Error, Result, Sluice};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const SESSION_PREFIX: &str = "sluice-job:";

/// A job's temporary key pair and session token.
#[derive(Clone, PartialEq, Eq)]
pub struct JobCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl std::fmt::Debug for JobCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"REDACTED")
            .field("session_token", &"REDACTED")
            .finish()
    }
}

/// What a session token lets its holder do, and whether it still may.
#[derive(Debug, Clone, PartialEq)]
pub struct JobGrant {
    pub job_id: String,
    pub credentials: JobCredentials,
    pub readable: Vec<(String, String)>,
    pub writable: Vec<(String, String)>,
    pub open: bool,
}

/// Whether a session token is one of ours (the rest belong to other credential kinds).
pub fn is_job_session_token(token: &str) -> bool {
    token.starts_with(SESSION_PREFIX)
}

impl Sluice {
    pub fn job_credentials(&self, job_id: &str) -> JobCredentials {
        let tokens = &self.inner.tokens;
        let id: String = tokens.derive("job-access-key-id", job_id)[..8]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let secret = URL_SAFE_NO_PAD.encode(&tokens.derive("job-secret", job_id)[..30]);
        JobCredentials {
            access_key_id: format!("ASIA{id}"),
            secret_access_key: secret,
            session_token: format!("{SESSION_PREFIX}{}", tokens.sign("job-session", job_id)),
        }
    }

    /// The grant a session token carries; `AccessDenied` for a token this server did not issue.
    pub async fn job_grant(&self, session_token: &str) -> Result<JobGrant> {
        let denied =
            || Error::AccessDenied("The security token included in the request is invalid.".into());
        let signed = session_token
            .strip_prefix(SESSION_PREFIX)
            .ok_or_else(denied)?;
        let job_id = self
            .inner
            .tokens
            .verify("job-session", signed)
            .ok_or_else(denied)?;
        let record = self.store().job(&job_id).await?.ok_or_else(denied)?;
        let job = self.job_view(&record)?;
        let locations = |artifacts: &[crate::JobArtifact]| {
            artifacts
                .iter()
                .filter_map(|a| a.location.clone())
                .collect::<Vec<_>>()
        };
        let mut writable = locations(&job.output_artifacts);
        writable.push((crate::LOG_BUCKET.into(), crate::job_log_key(&job_id)));
        Ok(JobGrant {
            credentials: self.job_credentials(&job_id),
            readable: locations(&job.input_artifacts),
            writable,
            open: !record.status.is_finished(),
            job_id,
        })
    }
}
