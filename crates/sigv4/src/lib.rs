//! AWS Signature Version 4: the canonical request, the string to sign and the signature, for
//! signing (our worker and CLI) and for checking (the server). Pure: the caller supplies the
//! time and the request's parts.

mod canonical;
mod encode;
#[cfg(test)]
mod properties;

pub use canonical::{canonical_query, canonical_request, canonical_uri, PathStyle};
pub use encode::{percent_decode, uri_encode};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name in headers and strings to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash S3 clients send when they do not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Why a signature could not be parsed or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Incomplete(String),
    #[error("The request signature we calculated does not match the signature you provided.")]
    Mismatch,
}

/// A key pair, with the session token of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"REDACTED")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "REDACTED"),
            )
            .finish()
    }
}

/// The scope a signature is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    pub fn to_credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub scope: Scope,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    /// Parses the header; every missing part is named, as AWS's
    /// `IncompleteSignatureException` names it.
    pub fn parse(header: &str) -> Result<Self, Error> {
        let rest = header.strip_prefix(ALGORITHM).ok_or_else(|| {
            Error::Incomplete(format!(
                "Authorization header requires '{ALGORITHM}' as the algorithm"
            ))
        })?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let missing = |what: &str| {
            Error::Incomplete(format!(
                "Authorization header requires '{what}' parameter. Authorization={header}"
            ))
        };
        let credential = credential.ok_or_else(|| missing("Credential"))?;
        let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("Signature"))?;
        let (access_key_id, scope) = parse_credential(credential)?;
        Ok(Self {
            access_key_id,
            scope,
            signed_headers: signed.split(';').map(str::to_string).collect(),
            signature: signature.to_string(),
        })
    }
}

/// The signing parameters of a presigned URL (`X-Amz-Algorithm`, `X-Amz-Credential`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub auth: Authorization,
    pub amz_date: String,
    /// Seconds after `amz_date` the URL stays valid.
    pub expires_secs: i64,
    pub security_token: Option<String>,
}

/// The decoded value of one query parameter.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

impl Presigned {
    /// `None` when the query carries no `X-Amz-Algorithm` (not a presigned request); each
    /// missing or malformed part is named.
    pub fn from_query(query: &str) -> Result<Option<Self>, Error> {
        let Some(algorithm) = query_param(query, "X-Amz-Algorithm") else {
            return Ok(None);
        };
        if algorithm != ALGORITHM {
            return Err(Error::Incomplete(format!(
                "X-Amz-Algorithm must be {ALGORITHM}"
            )));
        }
        let need = |n: &str| {
            query_param(query, n)
                .ok_or_else(|| Error::Incomplete(format!("the presigned URL has no {n}")))
        };
        let (access_key_id, scope) = parse_credential(&need("X-Amz-Credential")?)?;
        let expires_secs = need("X-Amz-Expires")?
            .parse()
            .map_err(|_| Error::Incomplete("X-Amz-Expires must be a number of seconds".into()))?;
        Ok(Some(Self {
            auth: Authorization {
                access_key_id,
                scope,
                signed_headers: need("X-Amz-SignedHeaders")?
                    .split(';')
                    .map(str::to_string)
                    .collect(),
                signature: need("X-Amz-Signature")?,
            },
            amz_date: need("X-Amz-Date")?,
            expires_secs,
            security_token: query_param(query, "X-Amz-Security-Token"),
        }))
    }
}

/// `AKID/20150830/us-east-1/service/aws4_request` → the key id and scope.
pub fn parse_credential(credential: &str) -> Result<(String, Scope), Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [id, date, region, service, "aws4_request"]
            if !id.is_empty() && date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok((
                id.to_string(),
                Scope {
                    date: date.to_string(),
                    region: region.to_string(),
                    service: service.to_string(),
                },
            ))
        }
        _ => Err(Error::Incomplete(format!(
            "Credential should be scoped to a valid region and service, and end with aws4_request: '{credential}'"
        ))),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hexadecimal, by table: every signature writes three digests.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hash of the canonical request>`.
pub fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.to_credential_scope(),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The hex signature of `string_to_sign` under the secret's derived key for `scope`.
pub fn signature(secret_access_key: &str, scope: &Scope, string_to_sign: &str) -> String {
    let k_date = hmac(
        format!("AWS4{secret_access_key}").as_bytes(),
        scope.date.as_bytes(),
    );
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex(&hmac(&k_signing, string_to_sign.as_bytes()))
}

/// The password the aws CLI's CodeCommit credential helper makes for git over HTTPS:
/// `<timestamp>Z<signature>`, the signature over `GIT\n<repository path>\n\nhost:<host>\n\nhost\n`
/// for the service `codecommit` (`timestamp` is `YYYYMMDDTHHMMSS`; `host` has no port).
pub fn git_password(
    secret_access_key: &str,
    region: &str,
    host: &str,
    path: &str,
    timestamp: &str,
) -> String {
    let canonical = format!("GIT\n{path}\n\nhost:{host}\n\nhost\n");
    let scope = Scope {
        date: timestamp.get(..8).unwrap_or_default().to_string(),
        region: region.to_string(),
        service: "codecommit".to_string(),
    };
    let signed = signature(
        secret_access_key,
        &scope,
        &string_to_sign(timestamp, &scope, &canonical),
    );
    format!("{timestamp}Z{signed}")
}

/// Compares two signatures in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request to sign or check: the path and query exactly as they appear on the wire.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Every header (name, value); names in any case.
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
}

/// Signs `request` for the Authorization header: returns the headers to add
/// (`x-amz-date`, `x-amz-security-token` when there is a session token, `authorization`).
/// `headers` must already hold `host` (and `x-amz-content-sha256` for S3).
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
    path_style: PathStyle,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = request.headers.to_vec();
    let mut added = vec![("x-amz-date".to_string(), amz_date.to_string())];
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token".into(), token.clone()));
    }
    headers.extend(added.iter().cloned());
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let scope = Scope {
        date: amz_date[..8].to_string(),
        region: region.into(),
        service: service.into(),
    };
    let full = Request {
        headers: &headers,
        ..request.clone()
    };
    let canonical = canonical_request(&full, &names, path_style);
    let sts = string_to_sign(amz_date, &scope, &canonical);
    let sig = signature(&credentials.secret_access_key, &scope, &sts);
    added.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={sig}",
            credentials.access_key_id,
            scope.to_credential_scope(),
            names.join(";")
        ),
    ));
    added
}

/// Checks a header-signed request against the secret of its access key.
pub fn verify(
    request: &Request<'_>,
    auth: &Authorization,
    amz_date: &str,
    secret_access_key: &str,
    path_style: PathStyle,
) -> Result<(), Error> {
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(Error::Incomplete(
            "Signed headers must include the host header".into(),
        ));
    }
    if !amz_date.starts_with(&auth.scope.date) {
        return Err(Error::Mismatch);
    }
    let canonical = canonical_request(request, &auth.signed_headers, path_style);
    let sts = string_to_sign(amz_date, &auth.scope, &canonical);
    let expected = signature(secret_access_key, &auth.scope, &sts);
    if constant_time_eq(&expected, &auth.signature) {
        Ok(())
    } else {
        Err(Error::Mismatch)
    }
}

#[cfg(test)]
mod vectors;
