//! The key SNS signs HTTP deliveries with, and the self-signed certificate subscribers verify
//! them against (served at `SigningCertURL`). Made on first use, sealed with the master key
//! and kept in the database, so every replica signs with the same key.

use crate::sealing::Purpose;
use crate::{Error, Result, Sluice};
use base64::Engine as _;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::RsaPrivateKey;
use std::sync::Arc;

/// RSA key size; AWS's SNS certificates use 2048-bit keys.
const KEY_BITS: usize = 2048;
/// How long the certificate is valid.
const CERT_YEARS: u64 = 10;

/// A loaded signing key and its certificate (PEM).
pub struct Signer {
    key: RsaPrivateKey,
    pub certificate_pem: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// Signs `text` as SNS's `SignatureVersion` says: "1" SHA1withRSA, "2" SHA256withRSA;
    /// base64 of the signature.
    pub fn sign(&self, signature_version: &str, text: &str) -> String {
        let bytes = if signature_version == "2" {
            rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.key.clone())
                .sign(text.as_bytes())
                .to_vec()
        } else {
            rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(self.key.clone())
                .sign(text.as_bytes())
                .to_vec()
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn generate(now_ms: i64) -> Result<(RsaPrivateKey, String)> {
        let internal =
            |what: &str, e: &dyn std::fmt::Display| Error::Internal(format!("{what}: {e}"));
        let mut rng = rsa::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, KEY_BITS)
            .map_err(|e| internal("generating the signing key", &e))?;
        let certificate = certificate(&key, now_ms)
            .map_err(|e| internal("making the signing certificate", &e))?;
        Ok((key, certificate))
    }
}

fn certificate(key: &RsaPrivateKey, now_ms: i64) -> std::result::Result<String, String> {
    use std::str::FromStr;
    use std::time::Duration;
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::asn1::GeneralizedTime;
    use x509_cert::der::EncodePem;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::{Time, Validity};
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let start = Duration::from_millis(now_ms.max(0) as u64);
    let end = start + Duration::from_secs(CERT_YEARS * 365 * 24 * 3600);
    let validity = Validity {
        not_before: Time::GeneralTime(
            GeneralizedTime::from_unix_duration(start).map_err(|e| text(&e))?,
        ),
        not_after: Time::GeneralTime(
            GeneralizedTime::from_unix_duration(end).map_err(|e| text(&e))?,
        ),
    };
    let subject = Name::from_str("CN=sns.sluice.local,O=Sluice").map_err(|e| text(&e))?;
    let public_der = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| text(&e))?;
    let spki = SubjectPublicKeyInfoOwned::try_from(public_der.as_bytes()).map_err(|e| text(&e))?;
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let serial = SerialNumber::from((now_ms.max(1) as u64) | 1);
    let builder = CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, &signer)
        .map_err(|e| text(&e))?;
    let cert = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| text(&e))?;
    cert.to_pem(LineEnding::LF).map_err(|e| text(&e))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    key_pem: String,
    certificate_pem: String,
}

impl Sluice {
    /// The signing key, made (off the async threads: an RSA key takes a while) and stored on
    /// first use.
    pub async fn notification_signer(&self) -> Result<Arc<Signer>> {
        if let Some(signer) = self.inner.signer.get() {
            return Ok(signer.clone());
        }
        let sealed = match self.store().signing_key().await? {
            Some(sealed) => sealed,
            None => {
                let now = self.now_ms();
                let (sender, receiver) = futures::channel::oneshot::channel();
                std::thread::spawn(move || {
                    let _ = sender.send(Signer::generate(now));
                });
                let (key, certificate_pem) = receiver
                    .await
                    .map_err(|_| Error::Internal("the signing key generator stopped".into()))??;
                let key_pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| Error::Internal(format!("encoding the signing key: {e}")))?;
                let stored = serde_json::to_string(&Stored {
                    key_pem: key_pem.to_string(),
                    certificate_pem,
                })
                .map_err(|e| Error::Internal(e.to_string()))?;
                let sealed = self.seal(Purpose::SigningKey, &stored)?;
                self.store().signing_key_or_init(&sealed).await?
            }
        };
        let stored: Stored = serde_json::from_str(&self.unseal(Purpose::SigningKey, &sealed)?)
            .map_err(|e| Error::Internal(format!("the stored signing key: {e}")))?;
        let key = RsaPrivateKey::from_pkcs8_pem(&stored.key_pem)
            .map_err(|e| Error::Internal(format!("the stored signing key: {e}")))?;
        let signer = Arc::new(Signer {
            key,
            certificate_pem: stored.certificate_pem,
        });
        Ok(self.inner.signer.get_or_init(|| signer).clone())
    }
}
