//! Who may touch what on the S3 endpoint. A job's `artifactCredentials` (recognised by their
//! session token) are checked in full — SigV4 signature, 15-minute skew window, the job still
//! open, and the exact artifact keys the job reads or writes. Other callers are accepted as the
//! account until IAM arrives (issue 5).

use crate::s3::S3Error;
use axum::http::request::Parts;
use axum::http::StatusCode;
use sluice_service::{is_job_session_token, Sluice};
use sluice_sigv4::{Authorization, PathStyle, Request};

/// The S3 endpoint's allowed clock skew.
const SKEW_MS: i64 = 15 * 60 * 1000;

/// What a request wants to do.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    ListBuckets,
    ReadBucket,
    AdministerBucket,
    Read(&'a str, &'a str),
    Write(&'a str, &'a str),
}

fn denied(message: &str) -> S3Error {
    S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", message)
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn authorize(sluice: &Sluice, parts: &Parts, access: Access<'_>) -> Result<(), S3Error> {
    let Some(token) = header(parts, "x-amz-security-token").filter(|t| is_job_session_token(t))
    else {
        return Ok(());
    };
    let auth_header = header(parts, "authorization")
        .ok_or_else(|| denied("Requests with a session token must be signed."))?;
    let auth = Authorization::parse(auth_header).map_err(|e| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            e.to_string(),
        )
    })?;
    let grant = sluice
        .job_grant(token)
        .await
        .map_err(|e| denied(&e.to_string()))?;
    if auth.access_key_id != grant.credentials.access_key_id {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ));
    }
    let amz_date = header(parts, "x-amz-date").unwrap_or_default();
    let signed_at = sluice_model::time::parse_amz_date(amz_date)
        .ok_or_else(|| denied("The request must carry a valid X-Amz-Date."))?;
    if (signed_at - sluice.now_ms()).abs() > SKEW_MS {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let payload_hash = header(parts, "x-amz-content-sha256").ok_or_else(|| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Missing required header for this request: x-amz-content-sha256",
        )
    })?;
    let request = Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        payload_hash,
    };
    sluice_sigv4::verify(
        &request,
        &auth,
        amz_date,
        &grant.credentials.secret_access_key,
        PathStyle::Verbatim,
    )
    .map_err(|_| {
        S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    })?;
    if !grant.open {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired.",
        ));
    }
    let allowed = match access {
        Access::Read(b, k) => grant.readable.iter().any(|(gb, gk)| gb == b && gk == k),
        Access::Write(b, k) => grant.writable.iter().any(|(gb, gk)| gb == b && gk == k),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(denied(&format!(
            "The credentials of job {} do not grant this access.",
            grant.job_id
        )))
    }
}
