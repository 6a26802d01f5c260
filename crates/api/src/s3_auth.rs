//! Who may touch what on the S3 endpoint: every request is SigV4-signed (header or presigned
//! URL, 15-minute skew window). A job's `artifactCredentials` (recognised by their session
//! token) reach only the job's own artifacts while the job is open; IAM users need a policy
//! that allows the S3 action (`s3:GetObject` on `arn:aws:s3:::bucket/key`, ...).

use crate::auth::{authenticate, AuthFailure, Identity};
use crate::s3::S3Error;
use axum::http::request::Parts;
use axum::http::StatusCode;
use sluice_service::{Caller, PrincipalKind, RequestInfo, Sluice};
use sluice_sigv4::PathStyle;

/// The S3 endpoint's allowed clock skew.
const SKEW_MS: i64 = 15 * 60 * 1000;

/// The role a job's credentials act as (the account's default service role).
const JOB_ROLE: &str = "AWS-CodePipeline-Service";

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

fn has_query(parts: &Parts, name: &str) -> bool {
    parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|p| p.split('=').next() == Some(name))
}

/// The S3 action a request performs and the resource it names, as IAM and CloudTrail name them.
pub fn s3_action(
    parts: &Parts,
    access: Access<'_>,
    bucket: Option<&str>,
) -> (&'static str, String) {
    let m = &parts.method;
    let q = |n: &str| has_query(parts, n);
    let bucket_arn = format!("arn:aws:s3:::{}", bucket.unwrap_or_default());
    match access {
        Access::ListBuckets => ("ListAllMyBuckets", "*".into()),
        Access::ReadBucket if q("versioning") => ("GetBucketVersioning", bucket_arn),
        Access::ReadBucket if q("location") => ("GetBucketLocation", bucket_arn),
        Access::ReadBucket if q("versions") => ("ListBucketVersions", bucket_arn),
        Access::ReadBucket if q("uploads") => ("ListBucketMultipartUploads", bucket_arn),
        Access::ReadBucket => ("ListBucket", bucket_arn),
        Access::AdministerBucket if q("versioning") => ("PutBucketVersioning", bucket_arn),
        Access::AdministerBucket if m == axum::http::Method::DELETE => ("DeleteBucket", bucket_arn),
        Access::AdministerBucket => ("CreateBucket", bucket_arn),
        Access::Read(b, k) => {
            let action = if q("versionId") {
                "GetObjectVersion"
            } else {
                "GetObject"
            };
            (action, format!("arn:aws:s3:::{b}/{k}"))
        }
        Access::Write(b, k) => {
            let action = if m == axum::http::Method::DELETE {
                if q("uploadId") {
                    "AbortMultipartUpload"
                } else if q("versionId") {
                    "DeleteObjectVersion"
                } else {
                    "DeleteObject"
                }
            } else {
                "PutObject"
            };
            (action, format!("arn:aws:s3:::{b}/{k}"))
        }
    }
}

/// Checks the signature and the permission; returns who is calling.
pub async fn authorize(
    sluice: &Sluice,
    parts: &Parts,
    access: Access<'_>,
    bucket: Option<&str>,
    info: &RequestInfo,
    who: &mut Option<Caller>,
) -> Result<(), S3Error> {
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
            AuthFailure::Expired(m)
                if m == "Request has expired" || m == "Request is not yet valid" =>
            {
                denied(&m)
            }
            AuthFailure::ExpiredToken => S3Error::new(
                StatusCode::BAD_REQUEST,
                "ExpiredToken",
                "The provided token has expired.",
            ),
            AuthFailure::Expired(_) => S3Error::new(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ),
        })?;
    let grant = match identity {
        Identity::Key(caller) => {
            *who = Some(caller.clone());
            let (action, resource) = s3_action(parts, access, bucket);
            let decision = sluice
                .authorize(&caller, &format!("s3:{action}"), &resource, info)
                .await;
            if decision.is_err() && matches!(action, "GetObject" | "GetObjectVersion") {
                // A registered on-premises instance reads its own deployment's bundle with no
                // policy of its own (and nothing else).
                let key = resource.split_once('/').map(|(_, k)| k).unwrap_or_default();
                if let Some(bucket) = bucket {
                    if sluice.host_may_read(&caller, bucket, key).await {
                        return Ok(());
                    }
                }
            }
            return decision.map_err(|e| denied(&e.to_string()));
        }
        Identity::Job(grant) => grant,
    };
    *who = Some(Caller {
        arn: format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            sluice.options().account_id,
            JOB_ROLE,
            grant.job_id
        ),
        access_key_id: grant.credentials.access_key_id.clone(),
        principal: Some((PrincipalKind::Role, JOB_ROLE.to_string())),
        principal_id: None,
    });
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
