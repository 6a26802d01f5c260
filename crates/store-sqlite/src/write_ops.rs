//! Every write of the SQLite store, as a plain function over the writer's connection. The
//! writer runs each inside its own savepoint of a batch transaction, so a function only has to
//! return an error to have nothing of it kept.

use rusqlite::{params, Connection, OptionalExtension};
use sluice_store::from_row::JOB_COLUMNS;
use sluice_store::{
    action_type_tag_key, tag_resource_key, AccessKeyRecord, ActionTypeKey, ActionTypeRecord,
    BucketRecord, DeclarationDoc, Error, JobRecord, JobStatus, NewPipeline, PipelineRecord, Result,
    StepWrite, Tag, TransitionRecord,
};

pub fn db(e: rusqlite::Error) -> Error {
    Error::Backend(e.to_string())
}

fn job(r: &rusqlite::Row<'_>) -> rusqlite::Result<(JobRecord, String)> {
    let status: String = r.get(7)?;
    Ok((
        JobRecord {
            job_id: r.get(0)?,
            pipeline: r.get(1)?,
            execution_id: r.get(2)?,
            action_type: ActionTypeKey {
                category: r.get(3)?,
                owner: r.get(4)?,
                provider: r.get(5)?,
                version: r.get(6)?,
            },
            status: JobStatus::Queued,
            nonce: r.get(8)?,
            data: r.get(9)?,
            created_ms: r.get(10)?,
            updated_ms: r.get(11)?,
        },
        status,
    ))
}

fn with_status((mut j, status): (JobRecord, String)) -> Result<JobRecord> {
    j.status =
        JobStatus::parse(&status).ok_or_else(|| Error::Corrupt(format!("job status {status}")))?;
    Ok(j)
}

fn pipeline_arn(c: &Connection, name: &str) -> Result<Option<String>> {
    c.query_row("SELECT arn FROM pipelines WHERE name = ?", [name], |r| {
        r.get(0)
    })
    .optional()
    .map_err(db)
}

fn insert_tags(c: &Connection, key: &str, tags: &[Tag]) -> Result<()> {
    let mut stmt = c
        .prepare_cached(
            "INSERT INTO tags (resource_arn, key, value) VALUES (?, ?, ?)
             ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
        )
        .map_err(db)?;
    for tag in tags {
        stmt.execute(params![key, tag.key, tag.value]).map_err(db)?;
    }
    Ok(())
}

pub fn create_pipeline(c: &Connection, new: &NewPipeline, max_pipelines: usize) -> Result<()> {
    if pipeline_arn(c, &new.name)?.is_some() {
        return Err(Error::NameInUse(new.name.clone()));
    }
    let count: i64 = c
        .query_row("SELECT COUNT(*) FROM pipelines", [], |r| r.get(0))
        .map_err(db)?;
    if count as usize >= max_pipelines {
        return Err(Error::LimitExceeded(format!(
            "the account already has {count} pipelines (limit {max_pipelines})"
        )));
    }
    let doc = new.declaration.clone().with_version(1);
    c.execute(
        "INSERT INTO pipelines (name, arn, version, created_ms, updated_ms, execution_mode, pipeline_type)
         VALUES (?, ?, 1, ?, ?, ?, ?)",
        params![new.name, new.arn, new.created_ms, new.created_ms, doc.execution_mode(), doc.pipeline_type()],
    )
    .map_err(db)?;
    c.execute(
        "INSERT INTO pipeline_versions (name, version, declaration, written_ms) VALUES (?, 1, ?, ?)",
        params![new.name, doc.to_json(), new.created_ms],
    )
    .map_err(db)?;
    insert_tags(c, &tag_resource_key(&new.arn), &new.tags)?;
    index_sources(c, &new.name, &doc)?;
    claim_artifact_buckets(c, &new.buckets)
}

/// Replaces the pipeline's rows of the source index with what `doc` watches.
pub fn index_sources(c: &Connection, pipeline: &str, doc: &DeclarationDoc) -> Result<()> {
    c.execute("DELETE FROM source_index WHERE pipeline = ?", [pipeline])
        .map_err(db)?;
    let mut stmt = c
        .prepare_cached(
            "INSERT OR IGNORE INTO source_index (provider, location, pipeline, action) VALUES (?, ?, ?, ?)",
        )
        .map_err(db)?;
    for s in doc.source_locations() {
        stmt.execute(params![s.provider, s.location, pipeline, s.action])
            .map_err(db)?;
    }
    Ok(())
}

/// Fills the source index from every pipeline's latest version while the migration that made
/// it says it is pending, in one transaction with clearing that mark.
pub fn fill_source_index(c: &Connection) -> Result<()> {
    let pending: i64 = c
        .query_row("SELECT COUNT(*) FROM source_index_backfill", [], |r| {
            r.get(0)
        })
        .map_err(db)?;
    if pending == 0 {
        return Ok(());
    }
    let tx = c.unchecked_transaction().map_err(db)?;
    let mut stmt = tx
        .prepare(
            "SELECT p.name, v.declaration FROM pipelines p
             JOIN pipeline_versions v ON v.name = p.name AND v.version = p.version",
        )
        .map_err(db)?;
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db)?
        .collect::<std::result::Result<_, _>>()
        .map_err(db)?;
    drop(stmt);
    for (name, json) in rows {
        index_sources(&tx, &name, &DeclarationDoc::from_json(&json)?)?;
    }
    tx.execute("DELETE FROM source_index_backfill", [])
        .map_err(db)?;
    tx.commit().map_err(db)
}

/// Creates the artifact buckets a pipeline names that do not exist yet, with their declared
/// key; an existing bucket keyed otherwise than declared refuses the pipeline.
pub fn claim_artifact_buckets(c: &Connection, buckets: &[BucketRecord]) -> Result<()> {
    for b in buckets {
        let current: Option<Option<String>> = c
            .query_row(
                "SELECT encryption_key FROM buckets WHERE name = ?",
                [&b.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        match current {
            None => {
                c.execute(
                    "INSERT INTO buckets (name, created_ms, versioning, encryption_key) VALUES (?, ?, ?, ?)",
                    params![b.name, b.created_ms, b.versioning, b.encryption_key],
                )
                .map_err(db)?;
            }
            Some(current) if b.encryption_key.is_some() && current != b.encryption_key => {
                return Err(Error::BucketKeyInUse {
                    bucket: b.name.clone(),
                    current: current.unwrap_or_else(|| "the default key (alias/aws/s3)".into()),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

pub fn update_pipeline(
    c: &Connection,
    name: &str,
    expected_version: i64,
    declaration: &DeclarationDoc,
    updated_ms: i64,
) -> Result<PipelineRecord> {
    let head: Option<(String, i64, i64)> = c
        .query_row(
            "SELECT arn, version, created_ms FROM pipelines WHERE name = ?",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(db)?;
    let (arn, current, created_ms) =
        head.ok_or_else(|| Error::NotFound(format!("pipeline {name}")))?;
    if current != expected_version {
        return Err(Error::VersionConflict {
            what: format!("pipeline {name}"),
            expected: expected_version,
        });
    }
    let version = current + 1;
    let doc = declaration.clone().with_version(version);
    c.execute(
        "UPDATE pipelines SET version = ?, updated_ms = ?, execution_mode = ?, pipeline_type = ? WHERE name = ?",
        params![version, updated_ms, doc.execution_mode(), doc.pipeline_type(), name],
    )
    .map_err(db)?;
    c.execute(
        "INSERT INTO pipeline_versions (name, version, declaration, written_ms) VALUES (?, ?, ?, ?)",
        params![name, version, doc.to_json(), updated_ms],
    )
    .map_err(db)?;
    index_sources(c, name, &doc)?;
    Ok(PipelineRecord {
        name: name.to_string(),
        arn,
        version,
        declaration: doc,
        created_ms,
        updated_ms,
    })
}

pub fn delete_pipeline(c: &Connection, name: &str) -> Result<bool> {
    let Some(arn) = pipeline_arn(c, name)? else {
        return Ok(false);
    };
    // Versions, transitions, runtime, executions, jobs and timers go with the pipeline row
    // (ON DELETE CASCADE); tags are keyed by ARN.
    c.execute("DELETE FROM pipelines WHERE name = ?", [name])
        .map_err(db)?;
    c.execute(
        "DELETE FROM tags WHERE resource_arn = ?",
        [tag_resource_key(&arn)],
    )
    .map_err(db)?;
    Ok(true)
}

pub fn set_transition(c: &Connection, t: &TransitionRecord) -> Result<()> {
    if pipeline_arn(c, &t.pipeline)?.is_none() {
        return Err(Error::NotFound(format!("pipeline {}", t.pipeline)));
    }
    c.execute(
        "INSERT INTO transitions (pipeline, stage, direction, enabled, reason, changed_by, changed_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pipeline, stage, direction) DO UPDATE SET enabled = excluded.enabled,
           reason = excluded.reason, changed_by = excluded.changed_by, changed_ms = excluded.changed_ms",
        params![t.pipeline, t.stage, t.direction.as_str(), t.enabled, t.reason, t.changed_by, t.changed_ms],
    )
    .map_err(db)?;
    Ok(())
}

pub fn create_action_type(
    c: &Connection,
    new: &ActionTypeRecord,
    tags: &[Tag],
    max_types: usize,
) -> Result<()> {
    let k = &new.key;
    let deleted: Option<bool> = c
        .query_row(
            "SELECT deleted FROM action_types WHERE category = ? AND owner = ? AND provider = ? AND version = ?",
            params![k.category, k.owner, k.provider, k.version],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    let what = format!(
        "action type {}/{}/{}/{}",
        k.owner, k.category, k.provider, k.version
    );
    if let Some(deleted) = deleted {
        return Err(if deleted {
            Error::Deleted(what)
        } else {
            Error::AlreadyExists(what)
        });
    }
    let count: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM action_types WHERE deleted = 0",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if count as usize >= max_types {
        return Err(Error::LimitExceeded(format!(
            "the account already has {count} custom action types (limit {max_types})"
        )));
    }
    c.execute(
        "INSERT INTO action_types (category, owner, provider, version, definition, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
        params![k.category, k.owner, k.provider, k.version, new.definition.to_json(), new.created_ms],
    )
    .map_err(db)?;
    insert_tags(c, &action_type_tag_key(k), tags)
}

pub fn delete_action_type(c: &Connection, k: &ActionTypeKey) -> Result<bool> {
    let done = c
        .execute(
            "UPDATE action_types SET deleted = 1
             WHERE category = ? AND owner = ? AND provider = ? AND version = ? AND deleted = 0",
            params![k.category, k.owner, k.provider, k.version],
        )
        .map_err(db)?
        > 0;
    c.execute(
        "DELETE FROM tags WHERE resource_arn = ?",
        [action_type_tag_key(k)],
    )
    .map_err(db)?;
    Ok(done)
}

pub fn tag_resource(
    c: &Connection,
    resource_arn: &str,
    tags: &[Tag],
    max_tags: usize,
) -> Result<()> {
    let key = tag_resource_key(resource_arn);
    insert_tags(c, &key, tags)?;
    let count: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM tags WHERE resource_arn = ?",
            [&key],
            |r| r.get(0),
        )
        .map_err(db)?;
    if count as usize > max_tags {
        return Err(Error::LimitExceeded(format!(
            "the resource would have {count} tags (limit {max_tags})"
        )));
    }
    Ok(())
}

pub fn untag_resource(c: &Connection, resource_arn: &str, keys: &[String]) -> Result<()> {
    let key = tag_resource_key(resource_arn);
    for k in keys {
        c.execute(
            "DELETE FROM tags WHERE resource_arn = ? AND key = ?",
            params![key, k],
        )
        .map_err(db)?;
    }
    Ok(())
}

pub fn ensure_access_key(c: &Connection, key: &AccessKeyRecord) -> Result<AccessKeyRecord> {
    c.execute(
        "INSERT INTO access_keys (access_key_id, secret_access_key, principal_arn, created_ms, status) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (access_key_id) DO NOTHING",
        params![key.access_key_id, key.secret_access_key.expose(), key.principal_arn, key.created_ms, key.status],
    )
    .map_err(db)?;
    c.query_row(
        "SELECT access_key_id, secret_access_key, principal_arn, created_ms, status FROM access_keys WHERE access_key_id = ?",
        [&key.access_key_id],
        |r| {
            Ok(AccessKeyRecord {
                access_key_id: r.get(0)?,
                secret_access_key: sluice_model::Secret::new(r.get::<_, String>(1)?),
                principal_arn: r.get(2)?,
                created_ms: r.get(3)?,
                status: r.get(4)?,
            })
        },
    )
    .map_err(db)
}

pub fn commit_step(c: &Connection, w: &StepWrite) -> Result<()> {
    let rev: Option<i64> = c
        .query_row(
            "SELECT rev FROM runtimes WHERE pipeline = ?",
            [&w.pipeline],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    let rev = match rev {
        Some(rev) => rev,
        // No runtime yet: the pipeline itself must exist (a runtime row keeps it alive below).
        None if pipeline_arn(c, &w.pipeline)?.is_none() => {
            return Err(Error::NotFound(format!("pipeline {}", w.pipeline)))
        }
        None => 0,
    };
    if rev != w.expected_rev {
        return Err(Error::VersionConflict {
            what: format!("runtime of pipeline {}", w.pipeline),
            expected: w.expected_rev,
        });
    }
    c.prepare_cached(
        "INSERT INTO runtimes (pipeline, rev, doc) VALUES (?, ?, ?)
         ON CONFLICT (pipeline) DO UPDATE SET rev = excluded.rev, doc = excluded.doc",
    )
    .and_then(|mut s| s.execute(params![w.pipeline, rev + 1, w.runtime_doc]))
    .map_err(db)?;
    if !w.executions.is_empty() {
        let mut stmt = c
            .prepare_cached(
                "INSERT INTO executions (pipeline, execution_id, status, started_ms, updated_ms, doc) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (pipeline, execution_id) DO UPDATE SET status = excluded.status,
                   updated_ms = excluded.updated_ms, doc = excluded.doc",
            )
            .map_err(db)?;
        for e in &w.executions {
            stmt.execute(params![
                e.pipeline,
                e.execution_id,
                e.status,
                e.started_ms,
                e.updated_ms,
                e.doc
            ])
            .map_err(db)?;
        }
    }
    if !w.new_jobs.is_empty() {
        let mut stmt = c
            .prepare_cached(&format!(
                "INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .map_err(db)?;
        for j in &w.new_jobs {
            let t = &j.action_type;
            stmt.execute(params![
                j.job_id,
                j.pipeline,
                j.execution_id,
                t.category,
                t.owner,
                t.provider,
                t.version,
                j.status.as_str(),
                j.nonce,
                j.data,
                j.created_ms,
                j.updated_ms
            ])
            .map_err(db)?;
        }
    }
    for (job_id, status) in &w.finished_jobs {
        c.prepare_cached("UPDATE jobs SET status = ? WHERE job_id = ?")
            .and_then(|mut s| s.execute(params![status.as_str(), job_id]))
            .map_err(db)?;
    }
    for t in &w.fired_timers {
        c.prepare_cached("DELETE FROM timers WHERE pipeline = ? AND key = ?")
            .and_then(|mut s| s.execute(params![t.pipeline, t.key]))
            .map_err(db)?;
    }
    for t in &w.new_timers {
        c.prepare_cached(
            "INSERT INTO timers (pipeline, key, due_ms) VALUES (?, ?, ?)
             ON CONFLICT (pipeline, key) DO UPDATE SET due_ms = excluded.due_ms",
        )
        .and_then(|mut s| s.execute(params![t.pipeline, t.key, t.due_ms]))
        .map_err(db)?;
    }
    insert_outbox(c, &w.outbox)?;
    if let Some((token, execution_id)) = &w.request_token {
        c.execute(
            "INSERT INTO request_tokens (pipeline, token, execution_id) VALUES (?, ?, ?)",
            params![w.pipeline, token, execution_id],
        )
        .map_err(db)?;
    }
    Ok(())
}

pub fn claim_jobs(
    c: &Connection,
    t: &ActionTypeKey,
    filter: &[(String, String)],
    nonces: &[String],
    now_ms: i64,
    redispatch_before_ms: i64,
) -> Result<Vec<JobRecord>> {
    let conditions: String = filter
        .iter()
        .map(|_| " AND json_extract(data, ?) = ?")
        .collect();
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE category = ? AND owner = ? AND provider = ? AND version = ?
           AND status IN ('Queued', 'Dispatched')
           AND (status = 'Queued' OR updated_ms <= ?){conditions}
         ORDER BY created_ms, job_id LIMIT ?"
    );
    let mut values: Vec<rusqlite::types::Value> = vec![
        t.category.clone().into(),
        t.owner.clone().into(),
        t.provider.clone().into(),
        t.version.clone().into(),
        redispatch_before_ms.into(),
    ];
    for (key, value) in filter {
        // The key is quoted in the JSON path so any property name is taken literally.
        values.push(format!("$.configuration.\"{}\"", key.replace('"', "")).into());
        values.push(value.clone().into());
    }
    values.push((nonces.len() as i64).into());
    let mut stmt = c.prepare_cached(&sql).map_err(db)?;
    let found: Vec<(JobRecord, String)> = stmt
        .query_map(rusqlite::params_from_iter(values), job)
        .map_err(db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(db)?;
    let mut claimed = Vec::with_capacity(found.len());
    for (row, nonce) in found.into_iter().zip(nonces) {
        let mut j = with_status(row)?;
        c.prepare_cached(
            "UPDATE jobs SET status = 'Dispatched', nonce = ?, updated_ms = ? WHERE job_id = ?",
        )
        .and_then(|mut s| s.execute(params![nonce, now_ms, j.job_id]))
        .map_err(db)?;
        j.status = JobStatus::Dispatched;
        j.nonce = Some(nonce.clone());
        j.updated_ms = now_ms;
        claimed.push(j);
    }
    Ok(claimed)
}

pub fn acknowledge_job(
    c: &Connection,
    job_id: &str,
    nonce: &str,
    now_ms: i64,
    lease: Option<&sluice_store::JobLease>,
) -> Result<JobRecord> {
    let row = c
        .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?"))
        .and_then(|mut s| s.query_row([job_id], job).optional())
        .map_err(db)?
        .ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
    let mut j = with_status(row)?;
    if j.nonce.as_deref() != Some(nonce) {
        return Err(Error::InvalidNonce(job_id.into()));
    }
    if j.status == JobStatus::Dispatched {
        c.prepare_cached("UPDATE jobs SET status = 'InProgress', updated_ms = ? WHERE job_id = ?")
            .and_then(|mut s| s.execute(params![now_ms, job_id]))
            .map_err(db)?;
        j.status = JobStatus::InProgress;
        j.updated_ms = now_ms;
    }
    if let Some(lease) = lease {
        c.prepare_cached("UPDATE jobs SET lease_owner = ?, lease_until_ms = ? WHERE job_id = ?")
            .and_then(|mut s| s.execute(params![lease.owner, lease.until_ms, job_id]))
            .map_err(db)?;
    }
    Ok(j)
}

pub fn bind_client_token(c: &Connection, job_id: &str, client_token: &str) -> Result<()> {
    let bound: Option<Option<String>> = c
        .query_row(
            "SELECT client_token FROM jobs WHERE job_id = ?",
            [job_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    match bound {
        None => Err(Error::NotFound(format!("job {job_id}"))),
        Some(Some(token)) if token != client_token => Err(Error::InvalidClientToken(job_id.into())),
        Some(Some(_)) => Ok(()),
        Some(None) => {
            c.execute(
                "UPDATE jobs SET client_token = ? WHERE job_id = ?",
                params![client_token, job_id],
            )
            .map_err(db)?;
            Ok(())
        }
    }
}

/// Queues outbox rows inside the caller's transaction.
pub fn insert_outbox(c: &rusqlite::Connection, rows: &[sluice_store::OutboxRecord]) -> Result<()> {
    for o in rows {
        c.prepare_cached(
            "INSERT INTO outbox (id, kind, topic, body, created_ms, attempts, due_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .and_then(|mut s| {
            s.execute(params![
                o.id,
                o.kind,
                o.topic,
                o.body,
                o.created_ms,
                o.attempts,
                o.due_ms
            ])
        })
        .map_err(db)?;
    }
    Ok(())
}
