//! Action types: the built-in catalog and the account's custom types.

use crate::{Error, Page, Result, Sluice};
use sluice_model::catalog::built_in_action_types;
use sluice_model::{ActionOwner, ActionType, ActionTypeId};
use sluice_store::{ActionTypeDoc, ActionTypeKey, ActionTypeRecord, Tag};

const LIST_SCOPE: &str = "ListActionTypes";
/// Action types per `ListActionTypes` page.
const PAGE_SIZE: usize = 100;

impl Sluice {
    /// Every action type a declaration may use: built in, then custom.
    pub async fn action_types_known(&self) -> Result<Vec<ActionType>> {
        let mut all = built_in_action_types();
        for record in self.store().list_action_types().await? {
            all.push(record.definition.to_model(&record.key));
        }
        Ok(all)
    }

    /// `GetActionType` (owners `AWS` and `ThirdParty`, as the model allows): the type, and
    /// whether this server's own providers run it (else job workers of the account do).
    pub async fn get_action_type(&self, id: &ActionTypeId) -> Result<(ActionType, bool)> {
        let found = self
            .action_types_known()
            .await?
            .into_iter()
            .find(|t| &t.id == id)
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
            .into_iter()
            .filter(|t| owner.is_none_or(|o| t.id.owner == o.as_str()))
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
        match self.store().create_action_type(&record, &tags, max).await {
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
        if !self
            .store()
            .delete_action_type(&ActionTypeKey::from(id))
            .await?
        {
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
