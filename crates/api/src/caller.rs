//! Who is calling: until SigV4 is verified, the access key id of the `Authorization` header
//! only names the caller.

use axum::http::HeaderMap;

/// The access key id in `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`.
pub fn access_key_id(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split_once("Credential=")?.1;
    let id = credential.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_id_is_read_from_a_sigv4_authorization_header() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/codepipeline/aws4_request, SignedHeaders=host, Signature=abc"
                .parse()
                .expect("header"),
        );
        assert_eq!(access_key_id(&h), Some("AKIDEXAMPLE"));
        assert_eq!(access_key_id(&HeaderMap::new()), None);
    }
}
