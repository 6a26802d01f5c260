//! Tags of pipelines and custom action types, addressed by ARN.

use crate::{Error, Page, Result, Sluice};
use sluice_model::arn::{parse, ResourceArn};
use sluice_store::Tag;

const LIST_SCOPE: &str = "ListTagsForResource";
const PAGE_SIZE: usize = 50;

impl Sluice {
    pub(crate) fn check_tags(&self, tags: &[Tag]) -> Result<()> {
        let max = self.options().limits.max_tags_per_resource;
        if tags.len() > max {
            return Err(Error::TooManyTags(format!(
                "{} tags were given; a resource can have at most {max}",
                tags.len()
            )));
        }
        let mut keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::InvalidTags(format!(
                "The tag key '{}' is given more than once",
                w[0]
            )));
        }
        if tags
            .iter()
            .any(|t| t.key.to_ascii_lowercase().starts_with("aws:"))
        {
            // AWS's words.
            return Err(Error::InvalidTags(
                "Not allowed to modify system tags. System tags start with 'aws:'. msg=[Caller is an end user and not allowed to mutate system tags]".into(),
            ));
        }
        Ok(())
    }

    /// Fails unless `arn` names an existing resource of this server.
    async fn resolve(&self, arn: &str) -> Result<()> {
        let invalid = || {
            Error::InvalidArn(format!(
                "The ARN '{arn}' is not a valid CodePipeline resource ARN"
            ))
        };
        let resource = parse(arn).ok_or_else(invalid)?;
        let (region, account) = match &resource {
            ResourceArn::Pipeline {
                region, account_id, ..
            }
            | ResourceArn::ActionType {
                region, account_id, ..
            } => (region, account_id),
        };
        let not_found = || match &resource {
            ResourceArn::Pipeline { name, .. } => Error::PipelineResourceNotFound {
                name: name.clone(),
                account: account.clone(),
            },
            ResourceArn::ActionType { .. } => Error::ResourceNotFound(arn.to_string()),
        };
        if region != &self.options().region || account != &self.options().account_id {
            return Err(not_found());
        }
        let exists = match &resource {
            ResourceArn::Pipeline { name, .. } => self.pipeline_exists(name).await?,
            ResourceArn::ActionType { id, .. } => self.custom_action_type_exists(id).await?,
        };
        if exists {
            Ok(())
        } else {
            Err(not_found())
        }
    }

    pub async fn tag_resource(&self, arn: &str, tags: Vec<Tag>) -> Result<()> {
        self.resolve(arn).await?;
        self.check_tags(&tags)?;
        let max = self.options().limits.max_tags_per_resource;
        self.store()
            .tag_resource(arn, &tags, max)
            .await
            .map_err(|e| match e {
                // AWS's words; the store's count stays in the server's log.
                sluice_store::Error::LimitExceeded(m) => {
                    tracing::debug!(resource = arn, "{m}");
                    Error::TooManyTags(format!("Tag limit exceeded for resource [{arn}]."))
                }
                other => other.into(),
            })?;
        self.count_change();
        Ok(())
    }

    pub async fn untag_resource(&self, arn: &str, keys: Vec<String>) -> Result<()> {
        self.resolve(arn).await?;
        self.store().untag_resource(arn, &keys).await?;
        self.count_change();
        Ok(())
    }

    pub async fn list_tags(
        &self,
        arn: &str,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<Page<Tag>> {
        self.resolve(arn).await?;
        let all = self.store().tags(arn).await?;
        let limit = max_results.unwrap_or(PAGE_SIZE);
        let scope = format!("{LIST_SCOPE}:{arn}");
        crate::pagination::offset_page(&self.inner.tokens, &scope, &all, limit, next_token)
    }
}
