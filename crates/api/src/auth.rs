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
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (sluice_sigv4::percent_decode(k) == name).then(|| sluice_sigv4::percent_decode(v))
    })
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
    let query = parts.uri.query().unwrap_or("");
    let presigned = query_param(query, "X-Amz-Algorithm").is_some();
    let (auth, amz_date, token, payload_hash) = if presigned {
        if query_param(query, "X-Amz-Algorithm").as_deref() != Some(sluice_sigv4::ALGORITHM) {
            return Err(AuthFailure::Incomplete(
                "X-Amz-Algorithm must be AWS4-HMAC-SHA256".into(),
            ));
        }
        let need = |n: &str| {
            query_param(query, n)
                .ok_or_else(|| AuthFailure::Incomplete(format!("the presigned URL has no {n}")))
        };
        let (access_key_id, scope) = sluice_sigv4::parse_credential(&need("X-Amz-Credential")?)
            .map_err(|e| AuthFailure::Incomplete(e.to_string()))?;
        let amz_date = need("X-Amz-Date")?;
        let expires: i64 = need("X-Amz-Expires")?.parse().map_err(|_| {
            AuthFailure::Incomplete("X-Amz-Expires must be a number of seconds".into())
        })?;
        let signed_at = sluice_model::time::parse_amz_date(&amz_date)
            .ok_or_else(|| AuthFailure::Incomplete("X-Amz-Date is not a valid date".into()))?;
        if !(1..=604_800).contains(&expires) || sluice.now_ms() > signed_at + expires * 1000 {
            return Err(AuthFailure::Expired("Request has expired".into()));
        }
        let auth = Authorization {
            access_key_id,
            scope,
            signed_headers: need("X-Amz-SignedHeaders")?
                .split(';')
                .map(str::to_string)
                .collect(),
            signature: need("X-Amz-Signature")?,
        };
        let payload = if style == PathStyle::Verbatim {
            sluice_sigv4::UNSIGNED_PAYLOAD.to_string()
        } else {
            payload_hash.to_string()
        };
        (
            auth,
            amz_date,
            query_param(query, "X-Amz-Security-Token"),
            payload,
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
            payload_hash.to_string(),
        )
    };
    let signed_at = sluice_model::time::parse_amz_date(&amz_date).ok_or_else(|| {
        AuthFailure::Incomplete(format!("'{amz_date}' is not a valid X-Amz-Date"))
    })?;
    if !presigned && (signed_at - sluice.now_ms()).abs() > skew_ms {
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
                grant.credentials.secret_access_key.clone(),
                Identity::Job(Box::new(grant)),
            )
        }
        Some(_) => return Err(AuthFailure::UnknownKey),
        None => match sluice.access_key(&auth.access_key_id).await {
            Ok(Some((secret, caller))) => (secret, Identity::Key(caller)),
            _ => return Err(AuthFailure::UnknownKey),
        },
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let request = Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query,
        headers: &headers,
        payload_hash: &payload_hash,
    };
    sluice_sigv4::verify(&request, &auth, &amz_date, &secret, style).map_err(|e| match e {
        sluice_sigv4::Error::Incomplete(m) => AuthFailure::Incomplete(m),
        sluice_sigv4::Error::Mismatch => AuthFailure::BadSignature,
    })?;
    Ok(identity)
}
