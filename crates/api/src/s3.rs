//! The S3-compatible endpoint (path-style `/{bucket}/{key}`): the subset `aws s3`, `aws s3api`
//! and boto3 need for source bundles and artifacts — buckets, versioning, objects, listings,
//! multipart uploads. Bodies stream to and from the blob store.

use crate::s3_auth::{self, Access};
use crate::xml::{element, escape};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use sluice_model::time::{http_date, iso_millis};
use sluice_service::{Error, ObjectListing, ObjectVersion, Sluice};

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// An S3 error: code, status and message as S3 words them.
#[derive(Debug)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub resource: String,
}

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            resource: String::new(),
        }
    }

    fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{what} is not implemented by this server"),
        )
    }
}

impl From<Error> for S3Error {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        let (status, code, resource) = match &e {
            Error::NoSuchBucket(b) => (S::NOT_FOUND, "NoSuchBucket", b.clone()),
            Error::NoSuchKey(k) => (S::NOT_FOUND, "NoSuchKey", k.clone()),
            Error::NoSuchVersion(v) => (S::NOT_FOUND, "NoSuchVersion", v.clone()),
            Error::NoSuchUpload(u) => (S::NOT_FOUND, "NoSuchUpload", u.clone()),
            Error::BucketAlreadyOwnedByYou(b) => {
                (S::CONFLICT, "BucketAlreadyOwnedByYou", b.clone())
            }
            Error::InvalidBucketName(b) => (S::BAD_REQUEST, "InvalidBucketName", b.clone()),
            Error::KeyTooLong(k) => (S::BAD_REQUEST, "KeyTooLongError", k.clone()),
            Error::MalformedXml(_) => (S::BAD_REQUEST, "MalformedXML", String::new()),
            Error::InvalidPart(_) => (S::BAD_REQUEST, "InvalidPart", String::new()),
            Error::MethodNotAllowed(_) => {
                (S::METHOD_NOT_ALLOWED, "MethodNotAllowed", String::new())
            }
            Error::AccessDenied(_) => (S::FORBIDDEN, "AccessDenied", String::new()),
            Error::KeyDisabled(_) => (S::BAD_REQUEST, "KMS.DisabledException", String::new()),
            Error::KeyNotFound(_) => (S::BAD_REQUEST, "KMS.NotFoundException", String::new()),
            Error::ContentSha256Mismatch(_) => {
                (S::BAD_REQUEST, "XAmzContentSHA256Mismatch", String::new())
            }
            _ => {
                tracing::error!(error = %e, "S3 request failed");
                (S::INTERNAL_SERVER_ERROR, "InternalError", String::new())
            }
        };
        let message = if status == S::INTERNAL_SERVER_ERROR {
            "We encountered an internal error. Please try again.".into()
        } else {
            message
        };
        Self {
            status,
            code,
            message,
            resource,
        }
    }
}

type S3Result = std::result::Result<Response, S3Error>;

/// The bucket and key a path names; `None` bucket for `/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

impl Target {
    pub fn parse(path: &str) -> Self {
        let path = path.strip_prefix('/').unwrap_or(path);
        match path.split_once('/') {
            None if path.is_empty() => Self {
                bucket: None,
                key: None,
            },
            None => Self {
                bucket: Some(sluice_sigv4::percent_decode(path)),
                key: None,
            },
            Some((b, k)) => Self {
                bucket: Some(sluice_sigv4::percent_decode(b)),
                key: (!k.is_empty()).then(|| sluice_sigv4::percent_decode(k)),
            },
        }
    }
}

/// Decoded query parameters (`+` is literal, as S3 clients send `%20`).
pub fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                sluice_sigv4::percent_decode(k),
                sluice_sigv4::percent_decode(v),
            )
        })
        .collect()
}

struct Ctx<'a> {
    sluice: &'a Sluice,
    headers: &'a HeaderMap,
    query: Vec<(String, String)>,
}

impl Ctx<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn handle(State(sluice): State<Sluice>, request: Request) -> Response {
    let request_id = sluice.new_id();
    let (parts, body) = request.into_parts();
    let target = Target::parse(parts.uri.path());
    let is_head = parts.method == Method::HEAD;
    let ctx = Ctx {
        sluice: &sluice,
        headers: &parts.headers,
        query: query_params(parts.uri.query().unwrap_or("")),
    };
    let info = crate::trail::request_info(&parts);
    let access = match (&target.bucket, &target.key) {
        (None, _) => Access::ListBuckets,
        (Some(_), None) if parts.method == Method::GET || is_head => Access::ReadBucket,
        (Some(_), None) => Access::AdministerBucket,
        (Some(b), Some(k)) if parts.method == Method::GET || is_head => Access::Read(b, k),
        (Some(b), Some(k)) => Access::Write(b, k),
    };
    let (action, resource) = s3_auth::s3_action(&parts, access, target.bucket.as_deref());
    let event_name = match (action, is_head) {
        ("GetObject", true) => "HeadObject",
        ("ListBucket", true) => "HeadBucket",
        (a, _) => a,
    };
    let mut request_parameters = serde_json::json!({ "bucketName": target.bucket, "Host": parts.headers.get("host").and_then(|v| v.to_str().ok()) });
    if let Some(k) = &target.key {
        request_parameters["key"] = serde_json::json!(k);
    }
    let described = S3Event {
        parts: &parts,
        event_name,
        request_parameters,
        resource: &resource,
        request_id: &request_id,
        info: &info,
    };
    // A call that may change something is on record before it acts (once authenticated and
    // authorized, so a refusal costs no durable write).
    let changes = !matches!(parts.method, Method::GET | Method::HEAD);
    let mut who = None;
    let mut pending = None;
    let result = {
        let begin = async |caller: &sluice_service::Caller| -> Result<(), S3Error> {
            if !changes {
                return Ok(());
            }
            let stub = crate::trail::event(&sluice, described.call(Some(caller), None));
            sluice.begin_audit(&stub).await.map_err(|e| {
                tracing::error!(%request_id, error = %e, "recording the audit event");
                S3Error::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            })?;
            pending = Some(stub.event_id);
            Ok(())
        };
        route(&ctx, &parts, &target, body, &info, &mut who, begin).await
    };
    let error = result
        .as_ref()
        .err()
        .map(|e| (e.code.to_string(), e.message.clone()));
    let recorded = match pending {
        Some(id) => {
            let event =
                crate::trail::event_with_id(&sluice, described.call(who.as_ref(), error), id);
            sluice.complete_audit(&event).await
        }
        None => {
            sluice
                .record_audit(&[crate::trail::event(
                    &sluice,
                    described.call(who.as_ref(), error),
                )])
                .await
        }
    };
    let result = match recorded {
        Ok(()) => result,
        Err(e) => {
            tracing::error!(%request_id, error = %e, "recording the audit event");
            Err(S3Error::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ))
        }
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%request_id, code = e.code, "S3 request refused");
            let body = if is_head {
                String::new()
            } else {
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>{}{}{}{}</Error>",
                    element("Code", e.code),
                    element("Message", &e.message),
                    element("Resource", &e.resource),
                    element("RequestId", &request_id)
                )
            };
            let mut r = (e.status, body).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/xml"));
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amz-request-id", v);
    }
    response
}

/// What the trail says of one S3 call, but for its caller and outcome.
struct S3Event<'a> {
    parts: &'a axum::http::request::Parts,
    event_name: &'a str,
    request_parameters: serde_json::Value,
    resource: &'a str,
    request_id: &'a str,
    info: &'a sluice_service::RequestInfo,
}

impl S3Event<'_> {
    fn call<'c>(
        &'c self,
        who: Option<&'c sluice_service::Caller>,
        error: Option<(String, String)>,
    ) -> crate::trail::Call<'c> {
        crate::trail::Call {
            caller: who,
            access_key_id: crate::trail::claimed_key_id(self.parts),
            event_source: "s3.amazonaws.com",
            event_name: self.event_name.to_string(),
            request_parameters: Some(self.request_parameters.clone()),
            response_elements: None,
            error,
            request_id: self.request_id,
            info: self.info,
            resources: if self.resource == "*" {
                Vec::new()
            } else {
                vec![("AWS::S3::Object".into(), self.resource.to_string())]
            },
        }
    }
}

/// Authorizes and runs one S3 call; `begin` records a changing call as pending once its
/// caller is known and allowed, before it acts.
async fn route(
    ctx: &Ctx<'_>,
    parts: &axum::http::request::Parts,
    target: &Target,
    body: Body,
    info: &sluice_service::RequestInfo,
    who: &mut Option<sluice_service::Caller>,
    begin: impl AsyncFnOnce(&sluice_service::Caller) -> Result<(), S3Error>,
) -> S3Result {
    let method = &parts.method;
    let Some(bucket) = target.bucket.as_deref() else {
        return if method == Method::GET {
            s3_auth::authorize(ctx.sluice, parts, Access::ListBuckets, None, info, who).await?;
            list_buckets(ctx).await
        } else {
            Err(S3Error::not_implemented(&format!("{method} /")))
        };
    };
    let Some(key) = target.key.as_deref() else {
        let access = match *method {
            Method::GET | Method::HEAD => Access::ReadBucket,
            _ => Access::AdministerBucket,
        };
        s3_auth::authorize(ctx.sluice, parts, access, Some(bucket), info, who).await?;
        if let Some(caller) = who.as_ref() {
            begin(caller).await?;
        }
        return bucket_op(ctx, method, bucket, body).await;
    };
    let access = match *method {
        Method::GET | Method::HEAD => Access::Read(bucket, key),
        _ => Access::Write(bucket, key),
    };
    s3_auth::authorize(ctx.sluice, parts, access, Some(bucket), info, who).await?;
    if let Some(caller) = who.as_ref() {
        begin(caller).await?;
    }
    object_op(ctx, method, bucket, key, body).await
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut r = (
        status,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

fn set(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

async fn read_small_body(body: Body) -> Result<String, S3Error> {
    let bytes = axum::body::to_bytes(body, 1 << 20).await.map_err(|_| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The request body is too large or was cut off.",
        )
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed.",
        )
    })
}

fn stream(body: Body) -> sluice_artifacts::ByteStream {
    Box::pin(
        body.into_data_stream()
            .map_err(|e| std::io::Error::other(e.to_string())),
    )
}

/// An upload's payload: the body, decoded when the SDK sent it `aws-chunked`. Chunk-signed
/// streams are refused (their chunk signatures are not checked here).
fn payload(ctx: &Ctx<'_>, body: Body) -> Result<sluice_artifacts::ByteStream, S3Error> {
    let sha = ctx.header("x-amz-content-sha256");
    if !crate::aws_chunked::is_chunked(ctx.header("content-encoding"), sha) {
        return Ok(stream(body));
    }
    match sha {
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") | None => {
            Ok(crate::aws_chunked::decode(stream(body)))
        }
        Some(other) => Err(S3Error::not_implemented(&format!(
            "uploads signed chunk by chunk ({other}); send an unsigned or a whole-body signed payload"
        ))),
    }
}

async fn list_buckets(ctx: &Ctx<'_>) -> S3Result {
    let buckets = ctx.sluice.list_buckets().await?;
    let account = &ctx.sluice.options().account_id;
    let items: String = buckets
        .iter()
        .map(|b| {
            format!(
                "<Bucket>{}{}</Bucket>",
                element("Name", &b.name),
                element("CreationDate", &iso_millis(b.created_ms))
            )
        })
        .collect();
    Ok(xml_response(
        StatusCode::OK,
        format!(
            "<ListAllMyBucketsResult xmlns=\"{NS}\"><Owner>{}{}</Owner><Buckets>{items}</Buckets></ListAllMyBucketsResult>",
            element("ID", account),
            element("DisplayName", account)
        ),
    ))
}

async fn bucket_op(ctx: &Ctx<'_>, method: &Method, bucket: &str, body: Body) -> S3Result {
    let sluice = ctx.sluice;
    match *method {
        Method::PUT if ctx.has("versioning") => {
            let doc = read_small_body(body).await?;
            let status = crate::xml::text(&doc, "Status").unwrap_or_default();
            sluice.set_bucket_versioning(bucket, &status).await?;
            Ok(StatusCode::OK.into_response())
        }
        Method::PUT if ctx.query.is_empty() => {
            read_small_body(body).await?;
            sluice.create_bucket(bucket).await?;
            let mut r = StatusCode::OK.into_response();
            set(&mut r, "location", &format!("/{bucket}"));
            Ok(r)
        }
        Method::HEAD => {
            sluice.bucket(bucket).await?;
            let mut r = StatusCode::OK.into_response();
            set(&mut r, "x-amz-bucket-region", &sluice.options().region);
            Ok(r)
        }
        Method::GET if ctx.has("versioning") => {
            let b = sluice.bucket(bucket).await?;
            let status = b
                .versioning
                .map(|s| element("Status", &s))
                .unwrap_or_default();
            Ok(xml_response(
                StatusCode::OK,
                format!(
                    "<VersioningConfiguration xmlns=\"{NS}\">{status}</VersioningConfiguration>"
                ),
            ))
        }
        Method::GET if ctx.has("location") => {
            sluice.bucket(bucket).await?;
            let region = &sluice.options().region;
            let constraint = if region == "us-east-1" { "" } else { region };
            Ok(xml_response(
                StatusCode::OK,
                format!(
                    "<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
                    escape(constraint)
                ),
            ))
        }
        Method::GET if ctx.has("versions") => list_versions(ctx, bucket).await,
        Method::GET if ctx.has("uploads") => Err(S3Error::not_implemented("ListMultipartUploads")),
        Method::GET => list_objects(ctx, bucket).await,
        _ => Err(S3Error::not_implemented(&format!("{method} on a bucket"))),
    }
}

fn max_keys(ctx: &Ctx<'_>) -> Result<usize, S3Error> {
    match ctx.param("max-keys") {
        None => Ok(sluice_service::MAX_KEYS),
        Some(v) => v.parse::<usize>().map_err(|_| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Provided max-keys not an integer or within integer range",
            )
        }),
    }
}

fn hex_token(s: &str) -> String {
    sluice_model::hex(s.as_bytes())
}

fn from_hex_token(s: &str) -> Result<String, S3Error> {
    let invalid = || {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "The continuation token provided is incorrect",
        )
    };
    if !s.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes.ok_or_else(invalid)?).map_err(|_| invalid())
}

fn contents(o: &ObjectVersion) -> String {
    format!(
        "<Contents>{}{}<ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
        element("Key", &o.key),
        element("LastModified", &iso_millis(o.modified_ms)),
        o.etag,
        o.size
    )
}

async fn list_objects(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    let v2 = ctx.param("list-type") == Some("2");
    let prefix = ctx.param("prefix").unwrap_or("");
    let delimiter = ctx.param("delimiter").filter(|d| !d.is_empty());
    let limit = max_keys(ctx)?;
    let after = if v2 {
        match ctx.param("continuation-token") {
            Some(t) => Some(from_hex_token(t)?),
            None => ctx.param("start-after").map(str::to_string),
        }
    } else {
        ctx.param("marker").map(str::to_string)
    };
    let listing: ObjectListing = ctx
        .sluice
        .list_objects(bucket, prefix, delimiter, after.as_deref(), limit)
        .await?;
    let mut body = format!(
        "<ListBucketResult xmlns=\"{NS}\">{}{}<MaxKeys>{limit}</MaxKeys><IsTruncated>{}</IsTruncated>",
        element("Name", bucket),
        element("Prefix", prefix),
        listing.next.is_some()
    );
    if let Some(d) = delimiter {
        body.push_str(&element("Delimiter", d));
    }
    if v2 {
        body.push_str(&format!(
            "<KeyCount>{}</KeyCount>",
            listing.objects.len() + listing.common_prefixes.len()
        ));
        if let Some(t) = ctx.param("continuation-token") {
            body.push_str(&element("ContinuationToken", t));
        }
        if let Some(s) = ctx.param("start-after") {
            body.push_str(&element("StartAfter", s));
        }
        if let Some((next, _)) = &listing.next {
            body.push_str(&element("NextContinuationToken", &hex_token(next)));
        }
    } else {
        body.push_str(&element("Marker", ctx.param("marker").unwrap_or("")));
        if let (Some((next, _)), Some(_)) = (&listing.next, delimiter) {
            body.push_str(&element("NextMarker", next));
        }
    }
    for o in &listing.objects {
        body.push_str(&contents(o));
    }
    for p in &listing.common_prefixes {
        body.push_str(&format!(
            "<CommonPrefixes>{}</CommonPrefixes>",
            element("Prefix", p)
        ));
    }
    body.push_str("</ListBucketResult>");
    Ok(xml_response(StatusCode::OK, body))
}

async fn list_versions(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    let prefix = ctx.param("prefix").unwrap_or("");
    let limit = max_keys(ctx)?;
    let key_marker = ctx.param("key-marker").filter(|k| !k.is_empty());
    let version_marker = ctx.param("version-id-marker").filter(|v| !v.is_empty());
    let after = key_marker.map(|k| (k, version_marker));
    let listing = ctx
        .sluice
        .list_object_versions(bucket, prefix, after, limit)
        .await?;
    let mut body = format!(
        "<ListVersionsResult xmlns=\"{NS}\">{}{}{}{}<MaxKeys>{limit}</MaxKeys><IsTruncated>{}</IsTruncated>",
        element("Name", bucket),
        element("Prefix", prefix),
        element("KeyMarker", key_marker.unwrap_or("")),
        element("VersionIdMarker", version_marker.unwrap_or("")),
        listing.next.is_some()
    );
    if let Some((k, v)) = &listing.next {
        body.push_str(&element("NextKeyMarker", k));
        body.push_str(&element("NextVersionIdMarker", v.as_deref().unwrap_or("")));
    }
    // The first version of a key in key order is its latest, unless the page began inside
    // that key's versions.
    let mut previous_key: Option<&str> = after.map(|(k, _)| k).filter(|_| version_marker.is_some());
    for o in &listing.objects {
        let latest = previous_key != Some(o.key.as_str());
        previous_key = Some(o.key.as_str());
        let common = format!(
            "{}{}<IsLatest>{latest}</IsLatest>{}",
            element("Key", &o.key),
            element("VersionId", &o.version_id),
            element("LastModified", &iso_millis(o.modified_ms))
        );
        if o.is_delete_marker() {
            body.push_str(&format!("<DeleteMarker>{common}</DeleteMarker>"));
        } else {
            body.push_str(&format!(
                "<Version>{common}<ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Version>",
                o.etag, o.size
            ));
        }
    }
    body.push_str("</ListVersionsResult>");
    Ok(xml_response(StatusCode::OK, body))
}

fn object_headers(r: &mut Response, o: &ObjectVersion) {
    set(r, "etag", &format!("\"{}\"", o.etag));
    set(r, "last-modified", &http_date(o.modified_ms));
    set(
        r,
        "content-type",
        o.content_type.as_deref().unwrap_or("binary/octet-stream"),
    );
    set(r, "accept-ranges", "bytes");
    if o.version_id != "null" {
        set(r, "x-amz-version-id", &o.version_id);
    }
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → `start..end` within `size`, as S3 reads a Range: an
/// end past the object is clamped, a start past it is `InvalidRange`, and a header S3 does not
/// serve as one range (several ranges, another unit, bad syntax) is ignored: `None`, the whole
/// object.
pub(crate) fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let invalid = || {
        S3Error::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
    };
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", "") => return Ok(None),
        ("", n) => match n.parse::<u64>() {
            Ok(0) => return Err(invalid()),
            Ok(n) => (size.saturating_sub(n), size),
            Err(_) => return Ok(None),
        },
        (a, "") => match a.parse::<u64>() {
            Ok(a) => (a, size),
            Err(_) => return Ok(None),
        },
        (a, b) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) if a <= b => (a, b.saturating_add(1).min(size)),
            _ => return Ok(None),
        },
    };
    if start >= size {
        return Err(invalid());
    }
    Ok(Some((start, end)))
}

async fn object_op(
    ctx: &Ctx<'_>,
    method: &Method,
    bucket: &str,
    key: &str,
    body: Body,
) -> S3Result {
    let sluice = ctx.sluice;
    let version_id = ctx.param("versionId").filter(|v| !v.is_empty());
    match *method {
        Method::PUT if ctx.has("uploadId") => {
            let part = ctx
                .param("partNumber")
                .and_then(|p| p.parse::<u32>().ok())
                .ok_or_else(|| {
                    S3Error::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidArgument",
                        "Part number must be an integer between 1 and 10000, inclusive",
                    )
                })?;
            let upload = ctx.param("uploadId").unwrap_or_default();
            let etag = sluice
                .upload_part(bucket, key, upload, part, payload(ctx, body)?)
                .await?;
            let mut r = StatusCode::OK.into_response();
            set(&mut r, "etag", &format!("\"{etag}\""));
            Ok(r)
        }
        Method::PUT if ctx.header("x-amz-copy-source").is_some() => {
            Err(S3Error::not_implemented("CopyObject"))
        }
        Method::PUT => {
            let expected = ctx
                .header("x-amz-content-sha256")
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            let content_type = ctx.header("content-type").map(str::to_string);
            let v = sluice
                .put_object(bucket, key, payload(ctx, body)?, content_type, expected)
                .await?;
            let mut r = StatusCode::OK.into_response();
            set(&mut r, "etag", &format!("\"{}\"", v.etag));
            if v.version_id != "null" {
                set(&mut r, "x-amz-version-id", &v.version_id);
            }
            Ok(r)
        }
        Method::HEAD => {
            let v = sluice.head_object(bucket, key, version_id).await?;
            let mut r = StatusCode::OK.into_response();
            object_headers(&mut r, &v);
            set(&mut r, "content-length", &v.size.to_string());
            Ok(r)
        }
        Method::GET => {
            let v = sluice.head_object(bucket, key, version_id).await?;
            let size = v.size as u64;
            let range = match ctx.header("range") {
                Some(h) if size > 0 => parse_range(h, size)?,
                _ => None,
            };
            let body = sluice.object_body(&v, range).await?;
            let (status, length) = match range {
                Some((s, e)) => (StatusCode::PARTIAL_CONTENT, e - s),
                None => (StatusCode::OK, size),
            };
            let mut r = (status, Body::from_stream(body)).into_response();
            object_headers(&mut r, &v);
            set(&mut r, "content-length", &length.to_string());
            if let Some((s, e)) = range {
                set(
                    &mut r,
                    "content-range",
                    &format!("bytes {s}-{}/{size}", e - 1),
                );
            }
            Ok(r)
        }
        Method::DELETE if ctx.has("uploadId") => {
            let upload = ctx.param("uploadId").unwrap_or_default();
            sluice.abort_multipart_upload(bucket, key, upload).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::DELETE => {
            let (version, marker) = sluice.delete_object(bucket, key, version_id).await?;
            let mut r = StatusCode::NO_CONTENT.into_response();
            if let Some(v) = version.filter(|v| v != "null") {
                set(&mut r, "x-amz-version-id", &v);
            }
            if marker {
                set(&mut r, "x-amz-delete-marker", "true");
            }
            Ok(r)
        }
        Method::POST if ctx.has("uploads") => {
            let content_type = ctx.header("content-type").map(str::to_string);
            let upload = sluice
                .create_multipart_upload(bucket, key, content_type)
                .await?;
            Ok(xml_response(
                StatusCode::OK,
                format!(
                    "<InitiateMultipartUploadResult xmlns=\"{NS}\">{}{}{}</InitiateMultipartUploadResult>",
                    element("Bucket", bucket),
                    element("Key", key),
                    element("UploadId", &upload)
                ),
            ))
        }
        Method::POST if ctx.has("uploadId") => {
            let upload = ctx.param("uploadId").unwrap_or_default().to_string();
            let doc = read_small_body(body).await?;
            let mut parts = Vec::new();
            for part in crate::xml::all_text(&doc, "Part") {
                let n = crate::xml::text(&part, "PartNumber")
                    .and_then(|n| n.trim().parse::<u32>().ok())
                    .ok_or_else(|| S3Error::new(StatusCode::BAD_REQUEST, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."))?;
                let etag = crate::xml::text(&part, "ETag").unwrap_or_default();
                parts.push((n, etag.trim_matches('"').to_string()));
            }
            let v = sluice
                .complete_multipart_upload(bucket, key, &upload, &parts)
                .await?;
            let mut r = xml_response(
                StatusCode::OK,
                format!(
                    "<CompleteMultipartUploadResult xmlns=\"{NS}\">{}{}{}<ETag>&quot;{}&quot;</ETag></CompleteMultipartUploadResult>",
                    element("Location", &format!("/{bucket}/{key}")),
                    element("Bucket", bucket),
                    element("Key", key),
                    v.etag
                ),
            );
            if v.version_id != "null" {
                set(&mut r, "x-amz-version-id", &v.version_id);
            }
            Ok(r)
        }
        _ => Err(S3Error::not_implemented(&format!("{method} on an object"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_bucket_and_a_decoded_key() {
        assert_eq!(Target::parse("/").bucket, None);
        let t = Target::parse("/b/dir/my%20file.zip");
        assert_eq!(t.bucket.as_deref(), Some("b"));
        assert_eq!(t.key.as_deref(), Some("dir/my file.zip"));
        assert_eq!(Target::parse("/b/").key, None);
    }

    #[test]
    fn ranges_follow_http_byte_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).ok(), Some(Some((0, 10))));
        assert_eq!(parse_range("bytes=90-", 100).ok(), Some(Some((90, 100))));
        assert_eq!(parse_range("bytes=-10", 100).ok(), Some(Some((90, 100))));
        assert_eq!(parse_range("bytes=-1000", 100).ok(), Some(Some((0, 100))));
        assert_eq!(
            parse_range("bytes=0-999", 100).ok(),
            Some(Some((0, 100))),
            "an end past the object is clamped"
        );
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=100-200", 100).is_err());
        for whole in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=5-1",
            "bytes=x-y",
            "bytes=-",
        ] {
            assert_eq!(
                parse_range(whole, 100).ok(),
                Some(None),
                "{whole} is ignored"
            );
        }
    }

    #[test]
    fn continuation_tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(
            from_hex_token(&hex_token("a/b ü")).ok().as_deref(),
            Some("a/b ü")
        );
        assert!(from_hex_token("zz").is_err());
        assert!(from_hex_token("abc").is_err());
    }
}
