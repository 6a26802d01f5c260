//! Secrets at rest: access-key secrets, webhook secret tokens and secret configuration values
//! are sealed with the server's master key (AES-256-GCM) before they reach the store, and
//! opened only where they are used. A sealed value names its purpose, so one cannot be moved
//! into another's place. Values written before sealing existed are read as they are.

use crate::{Error, Result, Sluice};
use base64::Engine;
use sluice_model::{ActionType, PipelineDeclaration};
use std::collections::BTreeMap;

/// How a sealed value begins in the database.
pub const SEALED_PREFIX: &str = "sluice-sealed:v1:";

/// What a sealed value is for (its associated data).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    AccessKey,
    Webhook,
    Configuration,
    KeyMaterial,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Purpose::AccessKey => b"sluice:access-key-secret",
            Purpose::Webhook => b"sluice:webhook-secret",
            Purpose::Configuration => b"sluice:configuration-secret",
            Purpose::KeyMaterial => b"sluice:kms-key-material",
        }
    }
}

pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

impl Sluice {
    pub(crate) fn seal(&self, purpose: Purpose, plain: &str) -> Result<String> {
        if is_sealed(plain) {
            return Ok(plain.to_string());
        }
        let sealed = self
            .options()
            .master_key
            .seal(plain.as_bytes(), purpose.aad())
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(sealed)
        ))
    }

    pub(crate) fn unseal(&self, purpose: Purpose, stored: &str) -> Result<String> {
        let Some(body) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_string());
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| Error::Internal("a sealed value is not valid base64".into()))?;
        let plain = self
            .options()
            .master_key
            .open(&bytes, purpose.aad())
            .map_err(|e| Error::Internal(format!("{e} — is this the data dir's master key?")))?;
        String::from_utf8(plain).map_err(|_| Error::Internal("a sealed value is not text".into()))
    }

    /// The declaration as stored: every secret configuration value sealed.
    pub(crate) fn seal_declaration(
        &self,
        pipeline: &PipelineDeclaration,
        types: &[ActionType],
    ) -> Result<PipelineDeclaration> {
        let mut sealed = pipeline.clone();
        for action in sealed.stages.iter_mut().flat_map(|s| s.actions.iter_mut()) {
            let Some(t) = types.iter().find(|t| t.id == action.action_type_id) else {
                continue;
            };
            for (name, value) in action.configuration.iter_mut() {
                if t.is_secret(name) {
                    *value = self.seal(Purpose::Configuration, value)?;
                }
            }
        }
        Ok(sealed)
    }

    /// Opens the sealed values of a configuration handed to whoever runs the action.
    pub(crate) fn unseal_configuration(
        &self,
        configuration: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        for value in configuration.values_mut() {
            if is_sealed(value) {
                *value = self.unseal(Purpose::Configuration, value)?;
            }
        }
        Ok(())
    }
}
