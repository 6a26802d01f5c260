//! The canonical request of SigV4.

use crate::encode::{percent_decode, uri_encode};
use crate::Request;

/// How the path enters the canonical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathStyle {
    /// Most services: dot segments and empty segments removed, then encoded (so a path that
    /// arrived percent-encoded is encoded twice, as the SDKs do).
    Normalized,
    /// Encoded once, never normalized.
    Encoded,
    /// S3: the path exactly as it was sent (already encoded by the client).
    Verbatim,
}

fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let trailing = path.ends_with('/') && !out.is_empty();
    let mut s = format!("/{}", out.join("/"));
    if trailing {
        s.push('/');
    }
    s
}

pub fn canonical_uri(path: &str, style: PathStyle) -> String {
    let path = if path.is_empty() { "/" } else { path };
    match style {
        PathStyle::Normalized => uri_encode(&normalize(path), true),
        PathStyle::Encoded => uri_encode(path, true),
        PathStyle::Verbatim => path.to_string(),
    }
}

/// Parameters decoded, re-encoded strictly and sorted by name then value; `X-Amz-Signature`
/// (of a presigned request) left out.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .filter(|(k, _)| k != "X-Amz-Signature")
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request over the headers named in `signed` (lowercase).
pub fn canonical_request(request: &Request<'_>, signed: &[String], style: PathStyle) -> String {
    let mut headers = String::new();
    for name in signed {
        let values: Vec<String> = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_value(v))
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri(request.path, style),
        canonical_query(request.query),
        headers,
        signed.join(";"),
        request.payload_hash
    )
}
