//! Secrets at rest: access-key secrets, webhook secret tokens and secret configuration values
//! are sealed with the server's master key (AES-256-GCM) before they reach the store, and
//! opened only where they are used. A sealed value's associated data names its purpose and,
//! for configuration, its place — pipeline, stage, action and property — so a sealed value
//! copied anywhere else does not open. No one may supply a value that looks sealed: only the
//! server seals. Values written before sealing existed are read as they are; configuration
//! sealed by earlier releases (`v1`, bound to its purpose only) opens only for the server's
//! own providers, never for a job a user's worker can poll.

use crate::{Error, Result, Sluice};
use base64::Engine as _;
use sluice_model::{ActionType, PipelineDeclaration};
use std::collections::BTreeMap;

/// How every sealed value begins in the database.
pub const SEALED_MARK: &str = "sluice-sealed:";
/// Values sealed for their purpose only (earlier releases).
const SEALED_V1: &str = "sluice-sealed:v1:";
/// Values sealed for their purpose and, for configuration, their place.
const SEALED_V2: &str = "sluice-sealed:v2:";

/// Where a secret configuration value belongs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot<'a> {
    pub pipeline: &'a str,
    pub stage: &'a str,
    pub action: &'a str,
    pub property: &'a str,
}

/// What a sealed value is for (its associated data).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose<'a> {
    AccessKey,
    Webhook,
    ConnectionToken,
    Configuration(Slot<'a>),
    KeyMaterial,
    SigningKey,
}

impl Purpose<'_> {
    fn aad(self) -> Vec<u8> {
        match self {
            Purpose::AccessKey => b"sluice:access-key-secret".to_vec(),
            Purpose::Webhook => b"sluice:webhook-secret".to_vec(),
            Purpose::SigningKey => b"sluice:notification-signing-key".to_vec(),
            Purpose::ConnectionToken => b"sluice:connection-token".to_vec(),
            // Lengths first, so that no two slots give the same bytes.
            Purpose::Configuration(slot) => {
                let parts = [slot.pipeline, slot.stage, slot.action, slot.property];
                let mut aad = b"sluice:configuration-secret:v2".to_vec();
                for part in parts {
                    aad.extend_from_slice(format!(":{}:", part.len()).as_bytes());
                    aad.extend_from_slice(part.as_bytes());
                }
                aad
            }
            Purpose::KeyMaterial => b"sluice:kms-key-material".to_vec(),
        }
    }

    /// The associated data of values sealed by earlier releases.
    fn legacy_aad(self) -> &'static [u8] {
        match self {
            Purpose::AccessKey => b"sluice:access-key-secret",
            Purpose::Webhook => b"sluice:webhook-secret",
            Purpose::Configuration(_) => b"sluice:configuration-secret",
            Purpose::KeyMaterial => b"sluice:kms-key-material",
            // Connection tokens and signing keys were never sealed any other way.
            Purpose::ConnectionToken => b"sluice:connection-token",
            Purpose::SigningKey => b"sluice:notification-signing-key",
        }
    }
}

pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_MARK)
}

/// Whether a legacy (`v1`) configuration value may be opened for this caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Legacy {
    Open,
    Refuse,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Sluice {
    /// Seals `plain`; a value that already looks sealed is refused (only the server seals).
    pub(crate) fn seal(&self, purpose: Purpose, plain: &str) -> Result<String> {
        if is_sealed(plain) {
            return Err(Error::Validation(format!(
                "A value may not begin with '{SEALED_MARK}'"
            )));
        }
        let sealed = self
            .options()
            .master_key
            .seal(plain.as_bytes(), &purpose.aad())
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(format!("{SEALED_V2}{}", b64().encode(sealed)))
    }

    pub(crate) fn unseal(&self, purpose: Purpose, stored: &str) -> Result<String> {
        self.unseal_with(purpose, stored, Legacy::Open)
    }

    fn unseal_with(&self, purpose: Purpose, stored: &str, legacy: Legacy) -> Result<String> {
        let (body, aad) = if let Some(body) = stored.strip_prefix(SEALED_V2) {
            (body, purpose.aad())
        } else if let Some(body) = stored.strip_prefix(SEALED_V1) {
            if legacy == Legacy::Refuse {
                return Err(Error::Internal(
                    "a secret sealed by an earlier release is opened only for this server's own providers; update the pipeline to seal it again".into(),
                ));
            }
            (body, purpose.legacy_aad().to_vec())
        } else if is_sealed(stored) {
            return Err(Error::Internal(
                "a sealed value has an unknown version".into(),
            ));
        } else {
            return Ok(stored.to_string());
        };
        let bytes = b64()
            .decode(body)
            .map_err(|_| Error::Internal("a sealed value is not valid base64".into()))?;
        let plain = self.options().master_key.open(&bytes, &aad).map_err(|e| {
            Error::Internal(format!(
                "{e} — a sealed value opens only with the data dir's master key, in its own place"
            ))
        })?;
        String::from_utf8(plain).map_err(|_| Error::Internal("a sealed value is not text".into()))
    }

    /// The declaration as stored: every secret configuration value sealed to its place.
    /// Values already sealed were carried over from the stored version (the caller refused
    /// sealed-looking values in what the user sent); they are sealed again for their place,
    /// which also moves earlier releases' values to the bound form.
    pub(crate) fn seal_declaration(
        &self,
        pipeline: &PipelineDeclaration,
        types: &[ActionType],
    ) -> Result<PipelineDeclaration> {
        let mut sealed = pipeline.clone();
        for stage in sealed.stages.iter_mut() {
            for action in stage.actions.iter_mut() {
                let Some(t) = types.iter().find(|t| t.id == action.action_type_id) else {
                    continue;
                };
                for (name, value) in action.configuration.iter_mut() {
                    if !t.is_secret(name) {
                        continue;
                    }
                    let slot = Slot {
                        pipeline: &pipeline.name,
                        stage: &stage.name,
                        action: &action.name,
                        property: name,
                    };
                    let plain = self.unseal(Purpose::Configuration(slot), value)?;
                    *value = self.seal(Purpose::Configuration(slot), &plain)?;
                }
            }
        }
        Ok(sealed)
    }

    /// Opens the sealed values of a configuration handed to whoever runs the action at
    /// `pipeline/stage/action`. A value that does not open in this place is an error.
    pub(crate) fn unseal_configuration(
        &self,
        place: (&str, &str, &str),
        configuration: &mut BTreeMap<String, String>,
        legacy: Legacy,
    ) -> Result<()> {
        let (pipeline, stage, action) = place;
        for (property, value) in configuration.iter_mut() {
            if is_sealed(value) {
                let slot = Slot {
                    pipeline,
                    stage,
                    action,
                    property,
                };
                *value = self.unseal_with(Purpose::Configuration(slot), value, legacy)?;
            }
        }
        Ok(())
    }

    /// Problems for every configuration value that looks sealed: users never supply them.
    pub(crate) fn sealed_values_supplied(
        pipeline: &PipelineDeclaration,
    ) -> Vec<sluice_model::Problem> {
        let mut problems = Vec::new();
        for stage in &pipeline.stages {
            for action in &stage.actions {
                for (name, value) in &action.configuration {
                    if is_sealed(value) {
                        problems.push(sluice_model::Problem {
                            kind: sluice_model::ProblemKind::Action,
                            message: format!(
                                "Action '{}' in stage '{}': the configuration value of '{name}' may not begin with '{SEALED_MARK}'",
                                action.name, stage.name
                            ),
                        });
                    }
                }
            }
        }
        problems
    }

    /// A copy with every sealed value shown as `****` (for answers, whatever the type says).
    pub(crate) fn mask_sealed(pipeline: &PipelineDeclaration) -> PipelineDeclaration {
        let mut masked = pipeline.clone();
        for action in masked.stages.iter_mut().flat_map(|s| s.actions.iter_mut()) {
            for value in action.configuration.values_mut() {
                if is_sealed(value) {
                    *value = sluice_model::SECRET_MASK.to_string();
                }
            }
        }
        masked
    }
}
