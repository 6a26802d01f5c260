//! Connections (a CodeStar connections subset): the git host a `CodeStarSourceConnection`
//! source reads. AWS completes a connection with a handshake in its console; here an
//! administrator completes it (`sluice admin connections complete`) by saying where its
//! repositories are — this server's own (`hosted`) or a git base URL — and the token to
//! fetch with. Until then it is `PENDING` and a source that uses it fails saying so.

use crate::sealing::Purpose;
use crate::{Error, Page, Result, Sluice};
use sluice_store::{ConnectionRecord, Tag};

const LIST_SCOPE: &str = "ListConnections";
/// AWS's quota of connections per account.
const MAX_CONNECTIONS: usize = 250;
/// What a completed connection's `url` is when its repositories are this server's.
pub const HOSTED: &str = "hosted";

/// A connection as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionView {
    pub name: String,
    pub arn: String,
    pub provider_type: String,
    pub owner_account_id: String,
    pub status: String,
    pub host_arn: Option<String>,
}

/// Where a completed connection's repositories are.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionSource {
    /// This server's hosted repositories.
    Hosted,
    /// A git base URL (or a directory of repositories), with the token to fetch with.
    Remote { base: String, token: Option<String> },
}

impl Sluice {
    fn connection_view(&self, c: ConnectionRecord) -> ConnectionView {
        ConnectionView {
            name: c.name,
            arn: c.arn,
            provider_type: c.provider_type,
            owner_account_id: self.options().account_id.clone(),
            status: c.status,
            host_arn: c.host_arn,
        }
    }

    async fn connection_record(&self, arn: &str) -> Result<ConnectionRecord> {
        self.store()
            .connection(arn)
            .await?
            .ok_or_else(|| Error::ResourceNotFound(format!("Connection {arn} does not exist")))
    }

    /// `CreateConnection`: a `PENDING` connection to a provider's repositories.
    pub async fn create_connection(
        &self,
        name: &str,
        provider_type: Option<&str>,
        host_arn: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<(String, Vec<Tag>)> {
        if host_arn.is_some() {
            return Err(Error::Validation(
                "HostArn is not supported by this Sluice server: it has no hosts; complete the connection with the URL of your git server instead".into(),
            ));
        }
        let Some(provider_type) = provider_type else {
            return Err(Error::Validation(
                "ProviderType is required (without a HostArn)".into(),
            ));
        };
        self.check_tags(&tags)?;
        let arn = format!(
            "arn:aws:codestar-connections:{}:{}:connection/{}",
            self.options().region,
            self.options().account_id,
            self.new_id()
        );
        let record = ConnectionRecord {
            arn: arn.clone(),
            name: name.into(),
            provider_type: provider_type.into(),
            host_arn: None,
            status: "PENDING".into(),
            url: None,
            token: None,
            created_ms: self.now_ms(),
        };
        self.store()
            .create_connection(&record, MAX_CONNECTIONS)
            .await
            .map_err(|e| match e {
                sluice_store::Error::NameInUse(name) => Error::Validation(format!(
                    "A connection named {name} already exists in this account"
                )),
                other => other.into(),
            })?;
        if !tags.is_empty() {
            let max = self.options().limits.max_tags_per_resource;
            self.store().tag_resource(&arn, &tags, max).await?;
        }
        Ok((arn, tags))
    }

    pub async fn get_connection(&self, arn: &str) -> Result<ConnectionView> {
        let record = self.connection_record(arn).await?;
        Ok(self.connection_view(record))
    }

    /// `ListConnections`, oldest first, filtered by provider type.
    pub async fn list_connections(
        &self,
        provider_type: Option<&str>,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<Page<ConnectionView>> {
        let all: Vec<ConnectionView> = self
            .store()
            .list_connections()
            .await?
            .into_iter()
            .filter(|c| provider_type.is_none_or(|p| c.provider_type == p))
            .map(|c| self.connection_view(c))
            .collect();
        let scope = format!("{LIST_SCOPE}:{}", provider_type.unwrap_or(""));
        let limit = max_results.unwrap_or(100);
        crate::pagination::offset_page(&self.inner.tokens, &scope, &all, limit, next_token)
    }

    pub async fn delete_connection(&self, arn: &str) -> Result<()> {
        if !self.store().delete_connection(arn).await? {
            return Err(Error::ResourceNotFound(format!(
                "Connection {arn} does not exist"
            )));
        }
        let keys: Vec<String> = self
            .store()
            .tags(arn)
            .await?
            .into_iter()
            .map(|t| t.key)
            .collect();
        self.store().untag_resource(arn, &keys).await?;
        Ok(())
    }

    /// The tags of a connection (its `ListTagsForResource`).
    pub async fn connection_tags(&self, arn: &str) -> Result<Vec<Tag>> {
        self.connection_record(arn).await?;
        Ok(self.store().tags(arn).await?)
    }

    /// Adds or overwrites tags of a connection (its `TagResource`).
    pub async fn tag_connection(&self, arn: &str, tags: Vec<Tag>) -> Result<()> {
        self.connection_record(arn).await?;
        self.check_tags(&tags)?;
        let max = self.options().limits.max_tags_per_resource;
        Ok(self.store().tag_resource(arn, &tags, max).await?)
    }

    /// Removes tags of a connection (its `UntagResource`).
    pub async fn untag_connection(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.connection_record(arn).await?;
        Ok(self.store().untag_resource(arn, keys).await?)
    }

    /// Completes a connection: its repositories are this server's (`hosted`) or under a git
    /// base URL (`https://…`, `http://…`, or an absolute directory), fetched with `token`.
    /// It is `AVAILABLE` from then on.
    pub async fn complete_connection(
        &self,
        arn: &str,
        url: &str,
        token: Option<&str>,
    ) -> Result<()> {
        let remote = ["https://", "http://", "/"]
            .iter()
            .any(|prefix| url.starts_with(prefix));
        if url != HOSTED && !remote {
            return Err(Error::Validation(format!(
                "'{url}' is not where a connection's repositories can be: give `{HOSTED}`, an http(s) URL or an absolute directory"
            )));
        }
        let sealed = token
            .map(|t| self.seal(Purpose::ConnectionToken, t))
            .transpose()?;
        if !self
            .store()
            .complete_connection(arn, "AVAILABLE", Some(url), sealed.as_deref())
            .await?
        {
            return Err(Error::ResourceNotFound(format!(
                "Connection {arn} does not exist"
            )));
        }
        Ok(())
    }

    /// Where an `AVAILABLE` connection's repositories are, its token unsealed (for the
    /// source provider).
    pub async fn connection_source(&self, arn: &str) -> Result<ConnectionSource> {
        let record = self.connection_record(arn).await?;
        match (record.status.as_str(), record.url.as_deref()) {
            ("AVAILABLE", Some(HOSTED)) => Ok(ConnectionSource::Hosted),
            ("AVAILABLE", Some(base)) => Ok(ConnectionSource::Remote {
                base: base.to_string(),
                token: record
                    .token
                    .as_deref()
                    .map(|t| self.unseal(Purpose::ConnectionToken, t))
                    .transpose()?,
            }),
            (status, _) => Err(Error::Validation(format!(
                "The connection {arn} is {status}: an administrator completes it with `sluice admin connections complete {arn} --url URL`"
            ))),
        }
    }
}
