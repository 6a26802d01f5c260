//! Console sessions: a signed cookie naming the access key that signed in, and the CSRF token
//! every form carries. Nothing is kept on the server, so sessions survive restarts and work on
//! every replica; a session ends when it expires, when its owner signs out (the cookie is
//! cleared) or when its access key is deactivated or deleted (checked on every request).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sluice_service::{Caller, Sluice};

type HmacSha256 = Hmac<Sha256>;

/// The cookie that holds a session.
pub const COOKIE: &str = "sluice_console";
/// How long a session lasts after sign-in (AWS's console sessions last 12 hours).
pub const SESSION_MS: i64 = 12 * 3600 * 1000;

/// A signed-in person: who they are and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
}

/// Signs and checks session cookies with a key derived from the server's token key.
#[derive(Clone)]
pub struct Keys {
    key: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

fn mac(key: &[u8], parts: &[&str]) -> Vec<u8> {
    // Any key length is valid for HMAC.
    let mut m = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            m.update(b"\n");
        }
        m.update(p.as_bytes());
    }
    m.finalize().into_bytes().to_vec()
}

/// Equal in constant time (the lengths are public).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Keys {
    pub fn new(token_key: &[u8]) -> Self {
        Self {
            key: mac(token_key, &["sluice console session"]),
        }
    }

    /// A new session cookie's value for `access_key_id`, valid until `expires_ms`.
    pub fn issue(&self, access_key_id: &str, expires_ms: i64) -> String {
        let mut nonce = [0u8; 16];
        // The OS's randomness does not fail on the platforms Sluice runs on; a fixed nonce
        // would still leave the cookie signed and unforgeable.
        let _ = getrandom::fill(&mut nonce);
        let nonce = sluice_model::hex(&nonce);
        let expires = expires_ms.to_string();
        let signature = sluice_model::hex(&mac(&self.key, &[access_key_id, &expires, &nonce]));
        format!("{access_key_id}.{expires}.{nonce}.{signature}")
    }

    /// The access key and nonce of a genuine, unexpired cookie value.
    fn check<'a>(&self, value: &'a str, now_ms: i64) -> Option<(&'a str, &'a str)> {
        let mut parts = value.split('.');
        let (key_id, expires, nonce, signature) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = sluice_model::hex(&mac(&self.key, &[key_id, expires, nonce]));
        if !same(expected.as_bytes(), signature.as_bytes()) {
            return None;
        }
        (expires.parse::<i64>().ok()? > now_ms).then_some((key_id, nonce))
    }

    /// The CSRF token of the session with `nonce`.
    fn csrf(&self, nonce: &str) -> String {
        sluice_model::hex(&mac(&self.key, &["csrf", nonce]))
    }

    /// The session a request's cookie names, if it is genuine, unexpired and its access key
    /// still works.
    pub async fn session(&self, sluice: &Sluice, cookie_header: Option<&str>) -> Option<Session> {
        let value = cookie(cookie_header?, COOKIE)?;
        let (key_id, nonce) = self.check(value, sluice.now_ms())?;
        // `access_key` answers only for active keys (cached briefly, as for signed calls).
        let (_, caller) = sluice.access_key(key_id).await.ok()??;
        Some(Session {
            caller,
            csrf: self.csrf(nonce),
        })
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The `Set-Cookie` value of a session: HttpOnly, SameSite=Strict, for the console's pages
/// only, and Secure when the console is served over TLS.
pub fn set_cookie(value: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/console; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_accepted_only_as_issued_and_before_it_expires() {
        let keys = Keys::new(b"token key");
        let value = keys.issue("AKIDEXAMPLE", 2_000);
        let (key, nonce) = keys.check(&value, 1_000).expect("genuine");
        assert_eq!(key, "AKIDEXAMPLE");
        assert_eq!(keys.csrf(nonce).len(), 64);
        assert!(keys.check(&value, 2_000).is_none(), "expired");
        let forged = value.replacen("AKIDEXAMPLE", "AKIDOTHER", 1);
        assert!(keys.check(&forged, 1_000).is_none(), "another key's name");
        let longer = value.replacen(".2000.", ".9999999.", 1);
        assert!(keys.check(&longer, 1_000).is_none(), "a later expiry");
        assert!(Keys::new(b"other").check(&value, 1_000).is_none());
        assert!(keys.check("a.b.c", 1_000).is_none());
    }

    #[test]
    fn each_session_has_its_own_csrf_token() {
        let keys = Keys::new(b"k");
        let a = keys.issue("AKID", 10);
        let b = keys.issue("AKID", 10);
        let nonce = |v: &str| v.split('.').nth(2).map(str::to_string).expect("nonce");
        assert_ne!(keys.csrf(&nonce(&a)), keys.csrf(&nonce(&b)));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let h = "a=1; sluice_console=x.y; b=2";
        assert_eq!(cookie(h, COOKIE), Some("x.y"));
        assert_eq!(cookie(h, "c"), None);
        assert!(set_cookie("v", 5, true).ends_with("SameSite=Strict; Secure"));
        assert!(set_cookie("v", 5, false).contains("HttpOnly"));
    }
}
