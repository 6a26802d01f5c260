//! Opaque, signed pagination tokens: a token carries the position after which the next page
//! starts, and an HMAC that makes a forged or altered token `InvalidNextTokenException`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sluice_store::PagePosition;

const MAC_LEN: usize = 16;

pub struct TokenSigner {
    key: Vec<u8>,
}

impl TokenSigner {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, scope: &str, position: &str) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(position.as_bytes());
        mac.finalize().into_bytes()[..MAC_LEN].to_vec()
    }

    /// A full-length MAC of `input` under `scope`, for deriving secrets from the key.
    pub fn derive(&self, scope: &str, input: &str) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(b"derive\0");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A token for `position` within the listing named `scope`.
    pub fn sign(&self, scope: &str, position: &str) -> String {
        let mut bytes = self.mac(scope, position);
        bytes.extend_from_slice(position.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position a token carries, if this server issued it for `scope`.
    pub fn verify(&self, scope: &str, token: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() < MAC_LEN {
            return None;
        }
        let (mac, position) = bytes.split_at(MAC_LEN);
        let position = std::str::from_utf8(position).ok()?;
        let expected = self.mac(scope, position);
        // Constant-time comparison: the token is attacker-controlled.
        let diff = mac
            .iter()
            .zip(&expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then(|| position.to_string())
    }
}

/// One page of an in-memory listing, positioned by offset: the token carries the offset of
/// the next page, signed for `scope`.
pub fn offset_page<T: Clone>(
    tokens: &TokenSigner,
    scope: &str,
    all: &[T],
    limit: usize,
    next_token: Option<&str>,
) -> crate::Result<crate::Page<T>> {
    let start = match next_token {
        Some(t) => tokens
            .verify(scope, t)
            .and_then(|p| p.parse::<usize>().ok())
            .ok_or(crate::Error::InvalidNextToken)?,
        None => 0,
    };
    let end = start.saturating_add(limit.max(1)).min(all.len());
    let items = all.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    let next_token = (end < all.len()).then(|| tokens.sign(scope, &end.to_string()));
    Ok(crate::Page { items, next_token })
}

/// A token for the page after `last`, in a listing ordered by creation time and name.
pub fn position_token(tokens: &TokenSigner, scope: &str, last: &PagePosition) -> String {
    tokens.sign(scope, &format!("{}/{}", last.created_ms, last.name))
}

/// The position a `position_token` carries, if this server issued it for `scope`.
pub fn position_of(tokens: &TokenSigner, scope: &str, token: &str) -> crate::Result<PagePosition> {
    let position = tokens
        .verify(scope, token)
        .ok_or(crate::Error::InvalidNextToken)?;
    let (created_ms, name) = position
        .split_once('/')
        .ok_or(crate::Error::InvalidNextToken)?;
    Ok(PagePosition {
        created_ms: created_ms
            .parse()
            .map_err(|_| crate::Error::InvalidNextToken)?,
        name: name.to_string(),
    })
}

/// Ends a page read from the store with one row more than `limit`: the row past the page
/// says there is a next one, which starts after the page's last row (`position` of it).
/// Truncates `rows` to the page and answers the next page's token.
pub fn next_page_token<T>(
    tokens: &TokenSigner,
    scope: &str,
    rows: &mut Vec<T>,
    limit: usize,
    position: impl Fn(&T) -> PagePosition,
) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last()
        .map(|last| position_token(tokens, scope, &position(last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_forged_ones_do_not() {
        let s = TokenSigner::new(b"k");
        let t = s.sign("pipelines", "MyFirstPipeline");
        assert_eq!(
            s.verify("pipelines", &t).as_deref(),
            Some("MyFirstPipeline")
        );
        assert_eq!(
            s.verify("action-types", &t),
            None,
            "a token is bound to its listing"
        );
        assert_eq!(s.verify("pipelines", "bm90LWEtdG9rZW4"), None);
        assert_eq!(s.verify("pipelines", "!!"), None);
        assert_eq!(TokenSigner::new(b"other").verify("pipelines", &t), None);
    }
}
