//! Action types: the built-in catalog and the account's custom types.

use crate::{Error, Page, Result, Sluice};
use sluice_model::catalog::built_in_action_types;
use sluice_model::{ActionOwner, ActionType, ActionTypeId};
use sluice_store::{ActionTypeDoc, ActionTypeKey, ActionTypeRecord, Tag};
use std::sync::Arc;

const LIST_SCOPE: &str = "ListActionTypes";
/// Action types per `ListActionTypes` page.
const PAGE_SIZE: usize = 100;

/// How long the action types read are used without reading them again. Creating or deleting a
/// custom type here forgets them at once; another replica's change is seen within this time.
pub const ACTION_TYPE_CACHE_MS: i64 = 5_000;

/// The action types last read, and when.
pub(crate) type CachedActionTypes = std::sync::Mutex<Option<(Arc<Vec<ActionType>>, i64)>>;

impl Sluice {
    /// Every action type a declaration may use: built in, then custom. Read at most once per
    /// `ACTION_TYPE_CACHE_MS`, so validating a declaration or showing a pipeline's state costs
    /// no read of them.
    pub async fn action_types_known(&self) -> Result<Arc<Vec<ActionType>>> {
        let now = self.now_ms();
        let cached = self
            .inner
            .action_types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(_, at)| now >= *at && now - at < ACTION_TYPE_CACHE_MS)
            .map(|(types, _)| types.clone());
        if let Some(types) = cached {
            return Ok(types);
        }
        let mut all = built_in_action_types();
        for record in self.store().list_action_types().await? {
            all.push(record.definition.to_model(&record.key));
        }
        let all = Arc::new(all);
        *self
            .inner
            .action_types
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((all.clone(), now));
        Ok(all)
    }

    /// Forgets the action types read, after a custom type was created or deleted here.
    fn forget_action_types(&self) {
        *self
            .inner
            .action_types
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// `GetActionType` (owners `AWS` and `ThirdParty`, as the model allows): the type, and
    /// whether this server's own providers run it (else job workers of the account do).
    pub async fn get_action_type(&self, id: &ActionTypeId) -> Result<(ActionType, bool)> {
        let found = self
            .action_types_known()
            .await?
            .iter()
            .find(|t| &t.id == id)
            .cloned()
            .ok_or_else(|| Error::ActionTypeNotFound(id.to_string()))?;
        let served_here = self.options().providers.contains(id)
            || (id.owner == ActionOwner::Aws.as_str() && id.category == "Approval");
        Ok((found, served_here))
    }

    /// One page of action types, optionally only those of one owner.
    pub async fn list_action_types(
        &self,
        owner: Option<ActionOwner>,
        next_token: Option<&str>,
    ) -> Result<Page<ActionType>> {
        let all: Vec<ActionType> = self
            .action_types_known()
            .await?
            .iter()
            .filter(|t| owner.is_none_or(|o| t.id.owner == o.as_str()))
            .cloned()
            .collect();
        crate::pagination::offset_page(&self.inner.tokens, LIST_SCOPE, &all, PAGE_SIZE, next_token)
    }

    /// Creates a custom action type (owner `Custom`).
    pub async fn create_custom_action_type(
        &self,
        action_type: ActionType,
        tags: Vec<Tag>,
    ) -> Result<ActionType> {
        if action_type.id.owner != ActionOwner::Custom.as_str() {
            return Err(Error::Validation(
                "Custom action types must have the owner 'Custom'".into(),
            ));
        }
        for (direction, d) in [
            ("inputArtifactDetails", action_type.input_artifact_details),
            ("outputArtifactDetails", action_type.output_artifact_details),
        ] {
            if d.minimum_count > d.maximum_count {
                return Err(Error::Validation(format!(
                    "{direction}: minimumCount {} is greater than maximumCount {}",
                    d.minimum_count, d.maximum_count
                )));
            }
        }
        let mut names: Vec<&str> = action_type
            .configuration_properties
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Validation(format!(
                "The configuration property '{}' is declared more than once",
                w[0]
            )));
        }
        self.check_tags(&tags)?;
        let record = ActionTypeRecord {
            key: ActionTypeKey::from(&action_type.id),
            definition: ActionTypeDoc::from(&action_type),
            created_ms: self.now_ms(),
        };
        let max = self.options().limits.max_custom_action_types_per_account;
        let created = self.store().create_action_type(&record, &tags, max).await;
        self.forget_action_types();
        match created {
            Ok(()) => Ok(action_type),
            // Creating an identical live type again returns it, so a retried call succeeds.
            Err(sluice_store::Error::AlreadyExists(what)) => {
                let existing = self
                    .store()
                    .get_action_type(&record.key)
                    .await?
                    .map(|r| r.definition.to_model(&r.key));
                match existing {
                    Some(e) if e == action_type => Ok(e),
                    _ => Err(Error::Validation(format!(
                        "The {what} already exists with a different definition; use a new version"
                    ))),
                }
            }
            Err(sluice_store::Error::Deleted(what)) => Err(Error::Validation(format!(
                "The {what} was deleted; to re-create it, use a version that has never been used before"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a custom action type deleted; its identity is never reused.
    pub async fn delete_custom_action_type(&self, id: &ActionTypeId) -> Result<()> {
        let deleted = self
            .store()
            .delete_action_type(&ActionTypeKey::from(id))
            .await;
        self.forget_action_types();
        if !deleted? {
            return Err(Error::ActionTypeNotFound(id.to_string()));
        }
        Ok(())
    }

    /// Whether a live custom action type exists.
    pub(crate) async fn custom_action_type_exists(&self, id: &ActionTypeId) -> Result<bool> {
        Ok(self
            .store()
            .get_action_type(&ActionTypeKey::from(id))
            .await?
            .is_some())
    }
}
