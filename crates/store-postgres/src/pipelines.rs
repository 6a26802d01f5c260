//! Pipelines with their versions, transitions and source index; custom action types; tags;
//! access keys.

use crate::{backend, below_limit, serializable, transaction, Bind, Isolation, PgStore, Tx};
use async_trait::async_trait;
use sluice_store::from_row::{self, ACCESS_KEY_COLUMNS};
use sluice_store::{
    action_type_tag_key, tag_resource_key, AccessKeyRecord, ActionTypeDoc, ActionTypeKey,
    ActionTypeRecord, ActionTypeStore, BucketRecord, CredentialStore, DeclarationDoc, Error,
    NewPipeline, PipelineRecord, PipelineStore, PipelineSummary, RemoteChange, Result, Tag,
    TagStore, TransitionDirection, TransitionRecord,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

fn pipeline(r: &PgRow) -> Result<PipelineRecord> {
    let declaration: String = r.get(3);
    Ok(PipelineRecord {
        name: r.get(0),
        arn: r.get(1),
        version: r.get(2),
        declaration: DeclarationDoc::from_json(&declaration)?,
        created_ms: r.get(4),
        updated_ms: r.get(5),
    })
}

fn transition(r: &PgRow) -> Result<TransitionRecord> {
    let direction: String = r.get(2);
    Ok(TransitionRecord {
        pipeline: r.get(0),
        stage: r.get(1),
        direction: TransitionDirection::parse(&direction)
            .ok_or_else(|| Error::Corrupt(format!("transition direction {direction}")))?,
        enabled: r.get(3),
        reason: r.get(4),
        changed_by: r.get(5),
        changed_ms: r.get(6),
    })
}

fn action_type(r: &PgRow) -> Result<ActionTypeRecord> {
    let definition: String = r.get(4);
    Ok(ActionTypeRecord {
        key: ActionTypeKey {
            category: r.get(0),
            owner: r.get(1),
            provider: r.get(2),
            version: r.get(3),
        },
        definition: ActionTypeDoc::from_json(&definition)?,
        created_ms: r.get(5),
    })
}

async fn pipeline_arn(c: &mut PgConnection, name: &str) -> Tx<Option<String>> {
    let row = sqlx::query("SELECT arn FROM pipelines WHERE name = $1")
        .bind(name)
        .fetch_optional(c)
        .await?;
    Ok(row.map(|r| r.get(0)))
}

async fn insert_tags(c: &mut PgConnection, key: &str, tags: &[Tag]) -> Tx<()> {
    for tag in tags {
        sqlx::query(
            "INSERT INTO tags (resource_arn, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (resource_arn, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(key)
        .bind(&tag.key)
        .bind(&tag.value)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Replaces the pipeline's rows of the source index with what `doc` watches.
async fn index_sources(c: &mut PgConnection, pipeline: &str, doc: &DeclarationDoc) -> Tx<()> {
    sqlx::query("DELETE FROM source_index WHERE pipeline = $1")
        .bind(pipeline)
        .execute(&mut *c)
        .await?;
    for s in doc.source_locations() {
        sqlx::query(
            "INSERT INTO source_index (provider, location, pipeline, action) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(&s.provider)
        .bind(&s.location)
        .bind(pipeline)
        .bind(&s.action)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Creates the artifact buckets a pipeline names that do not exist yet, with their declared
/// key; an existing bucket keyed otherwise than declared refuses the pipeline.
async fn claim_artifact_buckets(c: &mut PgConnection, buckets: &[BucketRecord]) -> Tx<()> {
    for b in buckets {
        let current: Option<Option<String>> =
            sqlx::query("SELECT encryption_key FROM buckets WHERE name = $1")
                .bind(&b.name)
                .fetch_optional(&mut *c)
                .await?
                .map(|r| r.get(0));
        match current {
            None => {
                sqlx::query(
                    "INSERT INTO buckets (name, created_ms, versioning, encryption_key) VALUES ($1, $2, $3, $4)",
                )
                .bind(&b.name)
                .bind(b.created_ms)
                .bind(&b.versioning)
                .bind(&b.encryption_key)
                .execute(&mut *c)
                .await?;
            }
            Some(current) if b.encryption_key.is_some() && current != b.encryption_key => {
                return Err(Error::BucketKeyInUse {
                    bucket: b.name.clone(),
                    current: current.unwrap_or_else(|| "the default key (alias/aws/s3)".into()),
                }
                .into());
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The transaction-scoped advisory lock creations take: "pipeline".
const CREATE_LOCK: i64 = 0x7069_7065_6c69_6e65;

async fn create_pipeline(c: &mut PgConnection, new: &NewPipeline, max_pipelines: usize) -> Tx<()> {
    // One creation at a time checks the name and the count (READ COMMITTED: each statement
    // sees what the creations before committed); a delete meanwhile only lowers the count.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CREATE_LOCK)
        .execute(&mut *c)
        .await?;
    if pipeline_arn(c, &new.name).await?.is_some() {
        return Err(Error::NameInUse(new.name.clone()).into());
    }
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM pipelines")
        .fetch_one(&mut *c)
        .await?
        .get(0);
    if count as usize >= max_pipelines {
        return Err(Error::LimitExceeded(format!(
            "the account already has {count} pipelines (limit {max_pipelines})"
        ))
        .into());
    }
    let doc = new.declaration.clone().with_version(1);
    sqlx::query(
        "INSERT INTO pipelines (name, arn, version, created_ms, updated_ms, execution_mode, pipeline_type)
         VALUES ($1, $2, 1, $3, $3, $4, $5)",
    )
    .bind(&new.name)
    .bind(&new.arn)
    .bind(new.created_ms)
    .bind(doc.execution_mode())
    .bind(doc.pipeline_type())
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "INSERT INTO pipeline_versions (name, version, declaration, written_ms) VALUES ($1, 1, $2, $3)",
    )
    .bind(&new.name)
    .bind(doc.to_json())
    .bind(new.created_ms)
    .execute(&mut *c)
    .await?;
    insert_tags(c, &tag_resource_key(&new.arn), &new.tags).await?;
    index_sources(c, &new.name, &doc).await?;
    claim_artifact_buckets(c, &new.buckets).await
}

async fn update_pipeline(
    c: &mut PgConnection,
    name: &str,
    expected_version: i64,
    declaration: &DeclarationDoc,
    updated_ms: i64,
) -> Tx<PipelineRecord> {
    let head = sqlx::query("SELECT arn, version, created_ms FROM pipelines WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::NotFound(format!("pipeline {name}")))?;
    let (arn, current, created_ms): (String, i64, i64) = (head.get(0), head.get(1), head.get(2));
    if current != expected_version {
        return Err(Error::VersionConflict {
            what: format!("pipeline {name}"),
            expected: expected_version,
        }
        .into());
    }
    let version = current + 1;
    let doc = declaration.clone().with_version(version);
    sqlx::query(
        "UPDATE pipelines SET version = $1, updated_ms = $2, execution_mode = $3, pipeline_type = $4
         WHERE name = $5",
    )
    .bind(version)
    .bind(updated_ms)
    .bind(doc.execution_mode())
    .bind(doc.pipeline_type())
    .bind(name)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "INSERT INTO pipeline_versions (name, version, declaration, written_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(name)
    .bind(version)
    .bind(doc.to_json())
    .bind(updated_ms)
    .execute(&mut *c)
    .await?;
    index_sources(c, name, &doc).await?;
    Ok(PipelineRecord {
        name: name.to_string(),
        arn,
        version,
        declaration: doc,
        created_ms,
        updated_ms,
    })
}

#[async_trait]
impl PipelineStore for PgStore {
    async fn create_pipeline(&self, new: &NewPipeline, max_pipelines: usize) -> Result<()> {
        transaction!(self, Isolation::ReadCommitted, |tx| {
            create_pipeline(&mut tx, new, max_pipelines).await
        })
    }

    async fn get_pipeline(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<PipelineRecord>> {
        let row = sqlx::query(
            "SELECT p.name, p.arn, v.version, v.declaration, p.created_ms, v.written_ms
             FROM pipelines p JOIN pipeline_versions v ON v.name = p.name
             WHERE p.name = $1 AND v.version = COALESCE($2, p.version)",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|r| pipeline(&r)).transpose()
    }

    async fn update_pipeline(
        &self,
        name: &str,
        expected_version: i64,
        declaration: &DeclarationDoc,
        buckets: &[BucketRecord],
        updated_ms: i64,
    ) -> Result<PipelineRecord> {
        serializable!(self, |tx| {
            let record =
                update_pipeline(&mut tx, name, expected_version, declaration, updated_ms).await?;
            claim_artifact_buckets(&mut tx, buckets).await?;
            Ok(record)
        })
    }

    async fn delete_pipeline(&self, name: &str) -> Result<bool> {
        serializable!(self, |tx| {
            let Some(arn) = pipeline_arn(&mut tx, name).await? else {
                return Ok(false);
            };
            // Versions, transitions, runtime, executions, jobs, timers and the source index go
            // with the pipeline row (ON DELETE CASCADE); tags are keyed by ARN.
            sqlx::query("DELETE FROM pipelines WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM tags WHERE resource_arn = $1")
                .bind(tag_resource_key(&arn))
                .execute(&mut *tx)
                .await?;
            Ok(true)
        })
    }

    async fn list_pipelines(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PipelineSummary>> {
        // Every name follows "", and `name > $1` seeks to the page (where `$1 IS NULL OR`, in a
        // generic plan, read every name before it).
        let rows = sqlx::query(
            "SELECT name, version, created_ms, updated_ms, execution_mode, pipeline_type
             FROM pipelines WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| PipelineSummary {
                name: r.get(0),
                version: r.get(1),
                created_ms: r.get(2),
                updated_ms: r.get(3),
                execution_mode: r.get(4),
                pipeline_type: r.get(5),
            })
            .collect())
    }

    async fn set_transition(&self, t: &TransitionRecord) -> Result<()> {
        serializable!(self, |tx| {
            if pipeline_arn(&mut tx, &t.pipeline).await?.is_none() {
                return Err(Error::NotFound(format!("pipeline {}", t.pipeline)).into());
            }
            sqlx::query(
                "INSERT INTO transitions (pipeline, stage, direction, enabled, reason, changed_by, changed_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (pipeline, stage, direction) DO UPDATE SET enabled = EXCLUDED.enabled,
                   reason = EXCLUDED.reason, changed_by = EXCLUDED.changed_by,
                   changed_ms = EXCLUDED.changed_ms",
            )
            .bind(&t.pipeline)
            .bind(&t.stage)
            .bind(t.direction.as_str())
            .bind(t.enabled)
            .bind(&t.reason)
            .bind(&t.changed_by)
            .bind(t.changed_ms)
            .execute(&mut *tx)
            .await?;
            self.notify(&mut tx, &[RemoteChange::PipelineState]).await
        })
    }

    async fn transitions(&self, pipeline: &str) -> Result<Vec<TransitionRecord>> {
        let rows = sqlx::query(
            "SELECT pipeline, stage, direction, enabled, reason, changed_by, changed_ms
             FROM transitions WHERE pipeline = $1",
        )
        .bind(pipeline)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(transition).collect()
    }

    async fn sources_at(
        &self,
        provider: &str,
        location: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        // Two statements, not `($2 IS NULL OR location = $2)`: a generic plan cannot seek on a
        // location it may have to ignore, and would read every source of the provider.
        let rows = match location {
            Some(location) => sqlx::query(
                "SELECT pipeline, action FROM source_index
                 WHERE provider = $1 AND location = $2 ORDER BY pipeline, action",
            )
            .bind(provider)
            .bind(location),
            None => sqlx::query(
                "SELECT pipeline, action FROM source_index WHERE provider = $1 ORDER BY pipeline, action",
            )
            .bind(provider),
        }
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

#[async_trait]
impl ActionTypeStore for PgStore {
    async fn create_action_type(
        &self,
        new: &ActionTypeRecord,
        tags: &[Tag],
        max_types: usize,
    ) -> Result<()> {
        let k = &new.key;
        serializable!(self, |tx| {
            let deleted: Option<bool> = sqlx::query(
                "SELECT deleted FROM action_types
                 WHERE category = $1 AND owner = $2 AND provider = $3 AND version = $4",
            )
            .bind(&k.category)
            .bind(&k.owner)
            .bind(&k.provider)
            .bind(&k.version)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.get(0));
            let what = format!(
                "action type {}/{}/{}/{}",
                k.owner, k.category, k.provider, k.version
            );
            if let Some(deleted) = deleted {
                return Err(if deleted {
                    Error::Deleted(what)
                } else {
                    Error::AlreadyExists(what)
                }
                .into());
            }
            let count: i64 = sqlx::query("SELECT COUNT(*) FROM action_types WHERE NOT deleted")
                .fetch_one(&mut *tx)
                .await?
                .get(0);
            below_limit(count, max_types, || {
                format!("the account already has {count} custom action types (limit {max_types})")
            })?;
            sqlx::query(
                "INSERT INTO action_types (category, owner, provider, version, definition, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&k.category)
            .bind(&k.owner)
            .bind(&k.provider)
            .bind(&k.version)
            .bind(new.definition.to_json())
            .bind(new.created_ms)
            .execute(&mut *tx)
            .await?;
            insert_tags(&mut tx, &action_type_tag_key(k), tags).await
        })
    }

    async fn get_action_type(&self, k: &ActionTypeKey) -> Result<Option<ActionTypeRecord>> {
        let row = sqlx::query(
            "SELECT category, owner, provider, version, definition, created_ms FROM action_types
             WHERE category = $1 AND owner = $2 AND provider = $3 AND version = $4 AND NOT deleted",
        )
        .bind(&k.category)
        .bind(&k.owner)
        .bind(&k.provider)
        .bind(&k.version)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|r| action_type(&r)).transpose()
    }

    async fn delete_action_type(&self, k: &ActionTypeKey) -> Result<bool> {
        serializable!(self, |tx| {
            let done = sqlx::query(
                "UPDATE action_types SET deleted = TRUE
                 WHERE category = $1 AND owner = $2 AND provider = $3 AND version = $4 AND NOT deleted",
            )
            .bind(&k.category)
            .bind(&k.owner)
            .bind(&k.provider)
            .bind(&k.version)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            sqlx::query("DELETE FROM tags WHERE resource_arn = $1")
                .bind(action_type_tag_key(k))
                .execute(&mut *tx)
                .await?;
            Ok(done)
        })
    }

    async fn list_action_types(&self) -> Result<Vec<ActionTypeRecord>> {
        let rows = sqlx::query(
            "SELECT category, owner, provider, version, definition, created_ms FROM action_types
             WHERE NOT deleted ORDER BY category, owner, provider, version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(action_type).collect()
    }
}

#[async_trait]
impl TagStore for PgStore {
    async fn tags(&self, resource_arn: &str) -> Result<Vec<Tag>> {
        let rows = sqlx::query("SELECT key, value FROM tags WHERE resource_arn = $1 ORDER BY key")
            .bind(tag_resource_key(resource_arn))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| Tag {
                key: r.get(0),
                value: r.get(1),
            })
            .collect())
    }

    async fn tag_resource(&self, resource_arn: &str, tags: &[Tag], max_tags: usize) -> Result<()> {
        let key = tag_resource_key(resource_arn);
        serializable!(self, |tx| {
            insert_tags(&mut tx, &key, tags).await?;
            let count: i64 = sqlx::query("SELECT COUNT(*) FROM tags WHERE resource_arn = $1")
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?
                .get(0);
            if count as usize > max_tags {
                return Err(Error::LimitExceeded(format!(
                    "the resource would have {count} tags (limit {max_tags})"
                ))
                .into());
            }
            Ok(())
        })
    }

    async fn untag_resource(&self, resource_arn: &str, keys: &[String]) -> Result<()> {
        let key = tag_resource_key(resource_arn);
        serializable!(self, |tx| {
            sqlx::query("DELETE FROM tags WHERE resource_arn = $1 AND key = ANY($2)")
                .bind(&key)
                .bind(keys)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

#[async_trait]
impl CredentialStore for PgStore {
    async fn ensure_access_key(&self, key: &AccessKeyRecord) -> Result<AccessKeyRecord> {
        serializable!(self, |tx| {
            sqlx::query(&format!(
                "INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (access_key_id) DO NOTHING"
            ))
            .bind(&key.access_key_id)
            .bind(key.secret_access_key.expose())
            .bind(&key.principal_arn)
            .bind(key.created_ms)
            .bind(&key.status)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(&format!(
                "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1"
            ))
            .bind(&key.access_key_id)
            .fetch_one(&mut *tx)
            .await?;
            Ok(from_row::access_key(&row))
        })
    }

    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1"
        ))
        .bind(access_key_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::access_key))
    }

    async fn create_access_key(
        &self,
        key: &AccessKeyRecord,
        max_per_principal: usize,
    ) -> Result<()> {
        serializable!(self, |tx| {
            let count: i64 =
                sqlx::query("SELECT COUNT(*) FROM access_keys WHERE principal_arn = $1")
                    .bind(&key.principal_arn)
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0);
            below_limit(count, max_per_principal, || {
                format!("Cannot exceed quota for AccessKeysPerUser: {max_per_principal}")
            })?;
            sqlx::query(&format!(
                "INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(&key.access_key_id)
            .bind(key.secret_access_key.expose())
            .bind(&key.principal_arn)
            .bind(key.created_ms)
            .bind(&key.status)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE principal_arn = $1
             ORDER BY created_ms, access_key_id"
        ))
        .bind(principal_arn)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::access_key).collect())
    }

    async fn set_access_key_status(&self, access_key_id: &str, status: &str) -> Result<bool> {
        let sql = "UPDATE access_keys SET status = $1 WHERE access_key_id = $2";
        Ok(self
            .execute(sql, &[Bind::Text(status), Bind::Text(access_key_id)])
            .await?
            > 0)
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool> {
        let sql = "DELETE FROM access_keys WHERE access_key_id = $1";
        Ok(self.execute(sql, &[Bind::Text(access_key_id)]).await? > 0)
    }
}
