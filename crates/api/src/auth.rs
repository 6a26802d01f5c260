//! SigV4 authentication of every signed route: the `Authorization` header form and the
//! presigned query form, the clock-skew window, constant-time comparison, and session tokens
//! (a job's `artifactCredentials`). The JSON API and the S3 endpoint word the failures each in
//! their own way; this module only says what failed.

use axum::http::request::Parts;
use sluice_service::{is_job_session_token, Caller, JobGrant, Sluice};
use sluice_sigv4::{Authorization, PathStyle, Request};

/// Who signed a request.
#[derive(Debug, Clone)]
pub enum Identity {
    Key(Caller),
    Job(Box<JobGrant>),
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthFailure {
    Missing,
    Incomplete(String),
    UnknownKey,
    BadSignature,
    /// Signed too long before or after the server's time, or a presigned URL past its expiry.
    Expired(String),
    /// Temporary credentials past their expiry.
    ExpiredToken,
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// What the headers of a request came to before its body is read.
pub type Claim = Result<Claimed, AuthFailure>;

/// How far ahead of the server's clock a presigned URL may be dated.
const PRESIGNED_AHEAD_MS: i64 = 15 * 60 * 1000;

/// A request whose headers name a known key, in time, with a well-formed signature that is
/// still to be checked against the body: what can be known before the body is read.
pub struct Claimed {
    auth: Authorization,
    amz_date: String,
    secret: sluice_model::Secret,
    identity: Identity,
    /// The presigned form signs no payload on the S3 endpoint.
    unsigned_payload: bool,
    style: PathStyle,
}

/// Checks the request's signature. `payload_hash` is what the body hashes to (or what the
/// client declared, for S3); `skew_ms` the accepted distance from the server's clock.
pub async fn authenticate(
    sluice: &Sluice,
    parts: &Parts,
    payload_hash: &str,
    style: PathStyle,
    skew_ms: i64,
) -> Result<Identity, AuthFailure> {
    let claimed = claim(sluice, parts, style, skew_ms).await?;
    verify(claimed, parts, payload_hash)
}

/// Everything but the signature itself, from the headers (or the presigned query) alone, so
/// that a request with no key, an unknown key or a stale date is refused before its body is
/// read.
pub async fn claim(
    sluice: &Sluice,
    parts: &Parts,
    style: PathStyle,
    skew_ms: i64,
) -> Result<Claimed, AuthFailure> {
    let query = parts.uri.query().unwrap_or("");
    let presigned = sluice_sigv4::Presigned::from_query(query)
        .map_err(|e| AuthFailure::Incomplete(e.to_string()))?;
    let is_presigned = presigned.is_some();
    let (auth, amz_date, token, unsigned_payload) = if let Some(p) = presigned {
        let signed_at = sluice_model::time::parse_amz_date(&p.amz_date)
            .ok_or_else(|| AuthFailure::Incomplete("X-Amz-Date is not a valid date".into()))?;
        if !(1..=604_800).contains(&p.expires_secs)
            || sluice.now_ms() > signed_at + p.expires_secs * 1000
        {
            return Err(AuthFailure::Expired("Request has expired".into()));
        }
        // Dated ahead, a URL would outlive the seven days a signature may last.
        if signed_at > sluice.now_ms() + PRESIGNED_AHEAD_MS {
            return Err(AuthFailure::Expired("Request is not yet valid".into()));
        }
        (
            p.auth,
            p.amz_date,
            p.security_token,
            style == PathStyle::Verbatim,
        )
    } else {
        let value = header(parts, "authorization").ok_or(AuthFailure::Missing)?;
        let auth =
            Authorization::parse(value).map_err(|e| AuthFailure::Incomplete(e.to_string()))?;
        let amz_date = header(parts, "x-amz-date")
            .ok_or_else(|| {
                AuthFailure::Incomplete(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into(),
                )
            })?
            .to_string();
        (
            auth,
            amz_date,
            header(parts, "x-amz-security-token").map(str::to_string),
            false,
        )
    };
    let signed_at = sluice_model::time::parse_amz_date(&amz_date).ok_or_else(|| {
        AuthFailure::Incomplete(format!("'{amz_date}' is not a valid X-Amz-Date"))
    })?;
    if !is_presigned && (signed_at - sluice.now_ms()).abs() > skew_ms {
        return Err(AuthFailure::Expired(format!(
            "Signature expired: {amz_date} is now earlier or later than {} by more than {} minutes.",
            sluice_model::time::amz_date(sluice.now_ms()),
            skew_ms / 60_000
        )));
    }
    let (secret, identity) = match token.as_deref() {
        Some(t) if is_job_session_token(t) => {
            let grant = sluice
                .job_grant(t)
                .await
                .map_err(|_| AuthFailure::UnknownKey)?;
            if grant.credentials.access_key_id != auth.access_key_id {
                return Err(AuthFailure::UnknownKey);
            }
            (
                sluice_model::Secret::new(grant.credentials.secret_access_key.clone()),
                Identity::Job(Box::new(grant)),
            )
        }
        Some(t) if sluice_service::is_role_session_token(t) => match sluice.role_session(t).await {
            Ok(Ok((session, caller))) if session.access_key_id == auth.access_key_id => {
                (session.secret_access_key, Identity::Key(caller))
            }
            Ok(Err(sluice_service::SessionProblem::Expired)) => {
                return Err(AuthFailure::ExpiredToken)
            }
            _ => return Err(AuthFailure::UnknownKey),
        },
        Some(_) => return Err(AuthFailure::UnknownKey),
        None => match sluice.access_key(&auth.access_key_id).await {
            Ok(Some((secret, caller))) => (secret, Identity::Key(caller)),
            _ => return Err(AuthFailure::UnknownKey),
        },
    };
    Ok(Claimed {
        auth,
        amz_date,
        secret,
        identity,
        unsigned_payload,
        style,
    })
}

/// Checks the claimed request's signature over `payload_hash` (what the body hashes to, or
/// what the client declared, for S3).
pub fn verify(
    claimed: Claimed,
    parts: &Parts,
    payload_hash: &str,
) -> Result<Identity, AuthFailure> {
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let payload_hash = if claimed.unsigned_payload {
        sluice_sigv4::UNSIGNED_PAYLOAD
    } else {
        payload_hash
    };
    let request = Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        payload_hash,
    };
    sluice_sigv4::verify(
        &request,
        &claimed.auth,
        &claimed.amz_date,
        claimed.secret.expose(),
        claimed.style,
    )
    .map_err(|e| match e {
        sluice_sigv4::Error::Incomplete(m) => AuthFailure::Incomplete(m),
        sluice_sigv4::Error::Mismatch => AuthFailure::BadSignature,
    })?;
    Ok(claimed.identity)
}
