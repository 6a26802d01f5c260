//! AES-256-GCM sealing: a fresh random 96-bit nonce per message, stored in front of the
//! ciphertext and its tag; the associated data binds a sealed value to its purpose (a key
//! sealed for access-key secrets does not open as a webhook secret).

use crate::Error;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

/// The length of a key: 256 bits.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// A 256-bit key; its bytes never appear in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub [u8; KEY_LEN]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(REDACTED)")
    }
}

impl Key {
    /// A fresh random key.
    pub fn generate() -> Result<Self, Error> {
        let mut k = [0u8; KEY_LEN];
        getrandom::fill(&mut k).map_err(|e| Error::Crypto(format!("no randomness: {e}")))?;
        Ok(Self(k))
    }

    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| Error::Crypto(format!("no randomness: {e}")))?;
        let cipher = Aes256Gcm::new((&self.0).into());
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::Crypto("encryption failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what `seal` produced with the same key and associated data; any change to the
    /// bytes, the key or the purpose is refused.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(Error::Crypto("the sealed value is too short".into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        Aes256Gcm::new((&self.0).into())
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
            .map_err(|_| {
                Error::Crypto(
                    "the sealed value does not open with this key (wrong key, or altered)".into(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let key = Key::generate().expect("key");
        let sealed = key.seal(b"s3cr3t", b"webhook").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(key.open(&sealed, b"webhook").expect("open"), b"s3cr3t");
        assert!(key.open(&sealed, b"access-key").is_err());
        assert!(Key::generate()
            .expect("key")
            .open(&sealed, b"webhook")
            .is_err());
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(key.open(&altered, b"webhook").is_err());
        assert_ne!(
            key.seal(b"s3cr3t", b"webhook").expect("seal"),
            sealed,
            "nonces differ"
        );
        assert_eq!(format!("{key:?}"), "Key(REDACTED)");
    }
}
