//! Who may touch what on the S3 endpoint: every request is SigV4-signed (header or presigned
//! URL, 15-minute skew window). A job's `artifactCredentials` (recognised by their session
//! token) reach only the job's own artifacts while the job is open; account keys reach
//! everything until IAM policies arrive.

use crate::auth::{authenticate, AuthFailure, Identity};
use crate::s3::S3Error;
use axum::http::request::Parts;
use axum::http::StatusCode;
use sluice_service::Sluice;
use sluice_sigv4::PathStyle;

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
    let payload_hash =
        header(parts, "x-amz-content-sha256").unwrap_or(sluice_sigv4::UNSIGNED_PAYLOAD);
    let identity = authenticate(sluice, parts, payload_hash, PathStyle::Verbatim, SKEW_MS)
        .await
        .map_err(|f| match f {
            AuthFailure::Missing => denied("Anonymous access is forbidden for this operation"),
            AuthFailure::Incomplete(m) => {
                S3Error::new(StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed", m)
            }
            AuthFailure::UnknownKey => S3Error::new(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            ),
            AuthFailure::BadSignature => S3Error::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ),
            AuthFailure::Expired(m) if m == "Request has expired" => denied(&m),
            AuthFailure::Expired(_) => S3Error::new(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ),
        })?;
    let grant = match identity {
        // Account keys may do anything on the endpoint until IAM policies arrive.
        Identity::Key(_) => return Ok(()),
        Identity::Job(grant) => grant,
    };
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
