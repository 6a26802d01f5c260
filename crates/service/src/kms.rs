//! Keys that encrypt artifacts, as the guide's Encryption chapter describes: every object is
//! encrypted with its own data key (envelope encryption, AES-256-GCM), and the data key is
//! wrapped by a key of the account — the default key (`alias/aws/s3`) or the customer-managed
//! key a pipeline's `artifactStore.encryptionKey` names. Key material is sealed with the
//! master key; rotation adds material (old objects keep opening with the version that wrapped
//! them); a disabled key neither wraps nor unwraps.

use crate::sealing::Purpose;
use crate::{Error, Result, Sluice};
use base64::Engine;
use sluice_artifacts::crypto::Key;
use sluice_store::KmsKeyRecord;

/// The alias of the account's default artifact key.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/s3";

/// A key with the number of material versions it has.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyView {
    pub record: KmsKeyRecord,
    pub versions: i64,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Sluice {
    fn key_arn(&self, key_id: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{key_id}",
            self.options().region,
            self.options().account_id
        )
    }

    fn sealed_material(&self) -> Result<String> {
        let material = Key::generate().map_err(|e| Error::Internal(e.to_string()))?;
        self.seal(Purpose::KeyMaterial, &b64().encode(material.0))
    }

    /// A new customer-managed key, optionally with an alias (`alias/NAME`).
    pub async fn create_key(&self, alias: Option<&str>, description: &str) -> Result<KmsKeyRecord> {
        if let Some(a) = alias {
            let name = a.strip_prefix("alias/").unwrap_or_default();
            let ok = !name.is_empty()
                && name.len() <= 250
                && !name.starts_with("aws/")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c));
            if !ok {
                return Err(Error::Validation(format!(
                    "Alias must be alias/NAME (letters, digits, /, _, -), not in the reserved alias/aws/ space: {a}"
                )));
            }
        }
        self.insert_key(alias, description).await
    }

    async fn insert_key(&self, alias: Option<&str>, description: &str) -> Result<KmsKeyRecord> {
        let key_id = self.new_id();
        let record = KmsKeyRecord {
            arn: self.key_arn(&key_id),
            key_id,
            alias: alias.map(str::to_string),
            description: description.into(),
            state: "Enabled".into(),
            created_ms: self.now_ms(),
        };
        match self
            .store()
            .create_kms_key(&record, &self.sealed_material()?)
            .await
        {
            Ok(()) => Ok(record),
            Err(sluice_store::Error::AlreadyExists(a)) => Err(Error::Validation(format!(
                "An alias with the name {a} already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The account's default key, created on first use.
    pub async fn ensure_default_key(&self) -> Result<KmsKeyRecord> {
        if let Some(k) = self.store().kms_key(DEFAULT_KEY_ALIAS).await? {
            return Ok(k);
        }
        match self
            .insert_key(
                Some(DEFAULT_KEY_ALIAS),
                "Default key that protects my S3 objects when no other key is defined",
            )
            .await
        {
            Ok(k) => Ok(k),
            // Another replica made it first.
            Err(Error::Validation(_)) => self.resolve_key(DEFAULT_KEY_ALIAS).await,
            Err(e) => Err(e),
        }
    }

    /// The key an id, key ARN, alias or alias ARN names.
    pub async fn resolve_key(&self, id: &str) -> Result<KmsKeyRecord> {
        let lookup = match id.split_once(":alias/") {
            Some((_, name)) if id.starts_with("arn:aws:kms:") => format!("alias/{name}"),
            _ => id.to_string(),
        };
        self.store()
            .kms_key(&lookup)
            .await?
            .ok_or_else(|| Error::KeyNotFound(format!("Key '{id}' does not exist")))
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyView>> {
        let mut out = Vec::new();
        for record in self.store().list_kms_keys().await? {
            let versions = self.store().kms_key_versions(&record.key_id).await?.len() as i64;
            out.push(KeyView { record, versions });
        }
        Ok(out)
    }

    /// New material for the key; returns the new version number.
    pub async fn rotate_key(&self, id: &str) -> Result<i64> {
        let key = self.resolve_key(id).await?;
        Ok(self
            .store()
            .add_kms_key_version(&key.key_id, &self.sealed_material()?, self.now_ms())
            .await?)
    }

    pub async fn set_key_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        let key = self.resolve_key(id).await?;
        let state = if enabled { "Enabled" } else { "Disabled" };
        self.store().set_kms_key_state(&key.key_id, state).await?;
        Ok(())
    }

    fn usable(key: &KmsKeyRecord) -> Result<()> {
        if key.state == "Enabled" {
            Ok(())
        } else {
            Err(Error::KeyDisabled(format!("{} is disabled.", key.arn)))
        }
    }

    async fn material(&self, key: &KmsKeyRecord, version: Option<i64>) -> Result<(i64, Key)> {
        let versions = self.store().kms_key_versions(&key.key_id).await?;
        let (v, sealed) = match version {
            Some(v) => versions.into_iter().find(|(n, _)| *n == v),
            None => versions.into_iter().last(),
        }
        .ok_or_else(|| Error::Internal(format!("key {} has no material", key.key_id)))?;
        let raw = b64()
            .decode(self.unseal(Purpose::KeyMaterial, &sealed)?)
            .map_err(|_| Error::Internal("key material is not base64".into()))?;
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|_| Error::Internal("key material is not 32 bytes".into()))?;
        Ok((v, Key(bytes)))
    }

    /// A fresh data key for an object of `bucket`, and its envelope (the data key wrapped by
    /// the bucket's key or the account's default key) to keep with the object.
    pub(crate) async fn new_data_key(&self, bucket_key: Option<&str>) -> Result<(Key, String)> {
        let key = match bucket_key {
            Some(arn) => self.resolve_key(arn).await?,
            None => self.ensure_default_key().await?,
        };
        Self::usable(&key)?;
        let (version, wrapping) = self.material(&key, None).await?;
        let data_key = Key::generate().map_err(|e| Error::Internal(e.to_string()))?;
        let wrapped = wrapping
            .seal(
                &data_key.0,
                format!("sluice:data-key:{}", key.key_id).as_bytes(),
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
        let envelope = serde_json::json!({
            "key": key.arn,
            "version": version,
            "wrapped": b64().encode(wrapped),
            "chunk": sluice_artifacts::envelope::CHUNK,
        });
        Ok((data_key, envelope.to_string()))
    }

    /// The data key an object's envelope wraps.
    pub(crate) async fn open_envelope(&self, envelope: &str) -> Result<Key> {
        let corrupt = || Error::Internal("an object's encryption envelope is corrupt".into());
        let v: serde_json::Value = serde_json::from_str(envelope).map_err(|_| corrupt())?;
        if v["chunk"].as_u64() != Some(sluice_artifacts::envelope::CHUNK as u64) {
            return Err(corrupt());
        }
        let key = self
            .resolve_key(v["key"].as_str().ok_or_else(corrupt)?)
            .await?;
        Self::usable(&key)?;
        let (_, wrapping) = self.material(&key, v["version"].as_i64()).await?;
        let wrapped = b64()
            .decode(v["wrapped"].as_str().ok_or_else(corrupt)?)
            .map_err(|_| corrupt())?;
        let raw = wrapping
            .open(
                &wrapped,
                format!("sluice:data-key:{}", key.key_id).as_bytes(),
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| corrupt())?;
        Ok(Key(bytes))
    }

    /// The key ARN a job's `encryptionKey` names: the artifact store's key, else the default.
    pub async fn artifact_key_arn(&self, configured: Option<&str>) -> Result<String> {
        match configured {
            Some(id) => Ok(self.resolve_key(id).await?.arn),
            None => Ok(self.ensure_default_key().await?.arn),
        }
    }
}
