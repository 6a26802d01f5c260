//! The worker's HTTP client: CodePipeline JSON calls signed with the worker's key, and the S3
//! GET/PUT of artifacts signed with a job's `artifactCredentials` — SigV4 throughout, bodies
//! streamed from and to files. Plain HTTP (put a TLS-terminating proxy in front for remote
//! workers across untrusted networks).

use crate::files::{file_stream, write_stream};
use crate::{Error, Result};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, BodyStream, Full, StreamBody};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sluice_sigv4::{Credentials, PathStyle};
use std::path::Path;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A CodePipeline or S3 error the server answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

#[derive(Clone)]
pub struct Client {
    host: String,
    region: String,
    credentials: Credentials,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("host", &self.host).finish()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Client {
    /// `endpoint` is `http://host:port`.
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<Self> {
        let host = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| {
                Error::Configuration(format!("endpoint '{endpoint}' must be an http:// URL"))
            })?
            .trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(Error::Configuration(format!(
                "endpoint '{endpoint}' must be http://host:port"
            )));
        }
        Ok(Self {
            host: host.into(),
            region: region.into(),
            credentials,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        method: &str,
        target: &str,
        mut headers: Vec<(String, String)>,
        body: Body,
        payload_hash: &str,
        service: &str,
        credentials: &Credentials,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        headers.push(("host".into(), self.host.clone()));
        if service == "s3" {
            headers.push(("x-amz-content-sha256".into(), payload_hash.into()));
        }
        let style = if service == "s3" {
            PathStyle::Verbatim
        } else {
            PathStyle::Normalized
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = sluice_sigv4::Request {
            method,
            path,
            query,
            headers: &headers,
            payload_hash,
        };
        let amz_date = sluice_model::time::amz_date(now_ms());
        let signed = sluice_sigv4::sign(
            &request,
            credentials,
            &self.region,
            service,
            &amz_date,
            style,
        );
        let mut builder = hyper::Request::builder().method(method).uri(target);
        for (k, v) in headers.iter().chain(&signed) {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(body)
            .map_err(|e| Error::Io(format!("building a request: {e}")))?;
        let stream = tokio::net::TcpStream::connect(&self.host)
            .await
            .map_err(|e| Error::Io(format!("connecting to {}: {e}", self.host)))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| Error::Io(e.to_string()))?;
        tokio::spawn(conn);
        sender
            .send_request(request)
            .await
            .map_err(|e| Error::Io(format!("request to {} failed: {e}", self.host)))
    }

    /// One CodePipeline operation.
    pub async fn call<I: Serialize, O: DeserializeOwned>(
        &self,
        operation: &str,
        input: &I,
    ) -> Result<std::result::Result<O, ApiError>> {
        self.call_service("CodePipeline_20150709", "codepipeline", operation, input)
            .await
    }

    /// One operation of a JSON 1.1 service: its target prefix and signing name.
    pub async fn call_service<I: Serialize, O: DeserializeOwned>(
        &self,
        target_prefix: &str,
        signing_name: &str,
        operation: &str,
        input: &I,
    ) -> Result<std::result::Result<O, ApiError>> {
        let body = serde_json::to_vec(input).map_err(|e| Error::Io(e.to_string()))?;
        let hash = sluice_sigv4::sha256_hex(&body);
        let headers = vec![
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            (
                "x-amz-target".into(),
                format!("{target_prefix}.{operation}"),
            ),
        ];
        let full = Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let response = self
            .send(
                "POST",
                "/",
                headers,
                full,
                &hash,
                signing_name,
                &self.credentials.clone(),
            )
            .await?;
        let status = response.status().as_u16();
        let bytes = Self::body_bytes(response).await?;
        if status == 200 {
            let out = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Io(format!("{operation} answered with unexpected JSON: {e}"))
            })?;
            return Ok(Ok(out));
        }
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = v["__type"].as_str().unwrap_or("Unknown");
        Ok(Err(ApiError {
            status,
            code: code.rsplit('#').next().unwrap_or(code).to_string(),
            message: v["message"].as_str().unwrap_or_default().to_string(),
        }))
    }

    /// A Query-protocol call (`Action=…&Version=…`, form-encoded) to the service `signing_name`:
    /// the status and the XML answer.
    pub async fn query(&self, signing_name: &str, form: &str) -> Result<(u16, String)> {
        let body = form.as_bytes().to_vec();
        let hash = sluice_sigv4::sha256_hex(&body);
        let headers = vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )];
        let full = Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let response = self
            .send(
                "POST",
                "/",
                headers,
                full,
                &hash,
                signing_name,
                &self.credentials.clone(),
            )
            .await?;
        let status = response.status().as_u16();
        let bytes = Self::body_bytes(response).await?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// A whole (small) response body.
    async fn body_bytes(response: hyper::Response<hyper::body::Incoming>) -> Result<Bytes> {
        Ok(response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Io(e.to_string()))?
            .to_bytes())
    }

    fn object_path(bucket: &str, key: &str) -> String {
        format!(
            "/{}/{}",
            sluice_sigv4::uri_encode(bucket, false),
            sluice_sigv4::uri_encode(key, true)
        )
    }

    async fn s3_error(response: hyper::Response<hyper::body::Incoming>, what: &str) -> Error {
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let code = text
            .split("<Code>")
            .nth(1)
            .and_then(|r| r.split("</Code>").next())
            .unwrap_or("unknown");
        Error::Failed(format!("{what} failed: HTTP {status} {code}"))
    }

    /// A signed S3 GET of `bucket/key`.
    async fn get_object(
        &self,
        credentials: &Credentials,
        bucket: &str,
        key: &str,
        headers: Vec<(String, String)>,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let empty = Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed_unsync();
        let hash = sluice_sigv4::sha256_hex(b"");
        let path = Self::object_path(bucket, key);
        self.send("GET", &path, headers, empty, &hash, "s3", credentials)
            .await
    }

    /// Downloads one version of `bucket/key` to `dest` with the client's own credentials.
    pub async fn s3_get_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        dest: &Path,
    ) -> Result<u64> {
        let empty = Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed_unsync();
        let hash = sluice_sigv4::sha256_hex(b"");
        let mut target = Self::object_path(bucket, key);
        if let Some(v) = version {
            target = format!("{target}?versionId={}", sluice_sigv4::uri_encode(v, true));
        }
        let response = self
            .send(
                "GET",
                &target,
                vec![],
                empty,
                &hash,
                "s3",
                &self.credentials.clone(),
            )
            .await?;
        if response.status() != 200 {
            return Err(Self::s3_error(response, &format!("reading s3://{bucket}/{key}")).await);
        }
        let stream = BodyStream::new(response.into_body())
            .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed();
        write_stream(stream, dest).await
    }

    /// Downloads `bucket/key` to `dest` with the given (job) credentials.
    pub async fn s3_get(
        &self,
        credentials: &Credentials,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<u64> {
        let response = self.get_object(credentials, bucket, key, vec![]).await?;
        if response.status() != 200 {
            return Err(Self::s3_error(response, &format!("reading s3://{bucket}/{key}")).await);
        }
        let stream = BodyStream::new(response.into_body())
            .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed();
        write_stream(stream, dest).await
    }

    /// The bytes of `bucket/key` from byte `from` on, read with the client's own credentials;
    /// `None` when there is no such object (yet).
    pub async fn s3_read(&self, bucket: &str, key: &str, from: u64) -> Result<Option<Vec<u8>>> {
        let headers = if from > 0 {
            vec![("range".to_string(), format!("bytes={from}-"))]
        } else {
            Vec::new()
        };
        let response = self
            .get_object(&self.credentials, bucket, key, headers)
            .await?;
        match response.status().as_u16() {
            200 | 206 => {}
            404 => return Ok(None),
            416 => return Ok(Some(Vec::new())),
            _ => {
                return Err(Self::s3_error(response, &format!("reading s3://{bucket}/{key}")).await)
            }
        }
        let bytes = Self::body_bytes(response).await?;
        Ok(Some(bytes.to_vec()))
    }

    /// Uploads `source` to `bucket/key` with the given (job) credentials.
    pub async fn s3_put(
        &self,
        credentials: &Credentials,
        bucket: &str,
        key: &str,
        source: &Path,
    ) -> Result<()> {
        let path = Self::object_path(bucket, key);
        let size = std::fs::metadata(source)?.len();
        let frames = file_stream(source).await?.map_ok(hyper::body::Frame::data);
        let body = BodyExt::boxed_unsync(StreamBody::new(frames));
        let headers = vec![("content-length".into(), size.to_string())];
        let response = self
            .send(
                "PUT",
                &path,
                headers,
                body,
                sluice_sigv4::UNSIGNED_PAYLOAD,
                "s3",
                credentials,
            )
            .await?;
        if response.status() != 200 {
            return Err(Self::s3_error(response, &format!("writing s3://{bucket}/{key}")).await);
        }
        Ok(())
    }
}
