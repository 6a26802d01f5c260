//! `RunStore` on SQLite: runtimes, execution history, jobs, timers, the outbox.

use crate::{backend, pipeline_arn, SqliteStore};
use async_trait::async_trait;
use sluice_store::{
    ActionTypeKey, Error, ExecutionRecord, JobRecord, JobStatus, OutboxRecord, Result, RunStore,
    RuntimeRecord, StepWrite, TimerRecord,
};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

const EXECUTION_COLUMNS: &str = "pipeline, execution_id, status, started_ms, updated_ms, doc";
const JOB_COLUMNS: &str =
    "job_id, pipeline, execution_id, category, owner, provider, version, status, nonce, data, created_ms, updated_ms";

fn execution(r: &SqliteRow) -> ExecutionRecord {
    ExecutionRecord {
        pipeline: r.get(0),
        execution_id: r.get(1),
        status: r.get(2),
        started_ms: r.get(3),
        updated_ms: r.get(4),
        doc: r.get(5),
    }
}

fn job(r: &SqliteRow) -> Result<JobRecord> {
    let status: String = r.get(7);
    Ok(JobRecord {
        job_id: r.get(0),
        pipeline: r.get(1),
        execution_id: r.get(2),
        action_type: ActionTypeKey {
            category: r.get(3),
            owner: r.get(4),
            provider: r.get(5),
            version: r.get(6),
        },
        status: JobStatus::parse(&status)
            .ok_or_else(|| Error::Corrupt(format!("job status {status}")))?,
        nonce: r.get(8),
        data: r.get(9),
        created_ms: r.get(10),
        updated_ms: r.get(11),
    })
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn runtime(&self, pipeline: &str) -> Result<Option<RuntimeRecord>> {
        let row = sqlx::query("SELECT pipeline, rev, doc FROM runtimes WHERE pipeline = ?")
            .bind(pipeline)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.map(|r| RuntimeRecord {
            pipeline: r.get(0),
            rev: r.get(1),
            doc: r.get(2),
        }))
    }

    async fn commit_step(&self, w: &StepWrite) -> Result<()> {
        let w = w.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let w = &w;
                let tx = conn;
                if pipeline_arn(&mut *tx, &w.pipeline).await?.is_none() {
                    return Err(Error::NotFound(format!("pipeline {}", w.pipeline)));
                }
                let rev: i64 = sqlx::query("SELECT rev FROM runtimes WHERE pipeline = ?")
                    .bind(&w.pipeline)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?
                    .map(|r| r.get(0))
                    .unwrap_or(0);
                if rev != w.expected_rev {
                    return Err(Error::VersionConflict {
                        what: format!("runtime of pipeline {}", w.pipeline),
                        expected: w.expected_rev,
                    });
                }
                sqlx::query(
                    "INSERT INTO runtimes (pipeline, rev, doc) VALUES (?, ?, ?)
                     ON CONFLICT (pipeline) DO UPDATE SET rev = excluded.rev, doc = excluded.doc",
                )
                .bind(&w.pipeline)
                .bind(rev + 1)
                .bind(&w.runtime_doc)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                for e in &w.executions {
                    sqlx::query(
                        "INSERT INTO executions (pipeline, execution_id, status, started_ms, updated_ms, doc) VALUES (?, ?, ?, ?, ?, ?)
                         ON CONFLICT (pipeline, execution_id) DO UPDATE SET status = excluded.status,
                           updated_ms = excluded.updated_ms, doc = excluded.doc",
                    )
                    .bind(&e.pipeline)
                    .bind(&e.execution_id)
                    .bind(&e.status)
                    .bind(e.started_ms)
                    .bind(e.updated_ms)
                    .bind(&e.doc)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                for j in &w.new_jobs {
                    let t = &j.action_type;
                    sqlx::query(&format!(
                        "INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ))
                    .bind(&j.job_id)
                    .bind(&j.pipeline)
                    .bind(&j.execution_id)
                    .bind(&t.category)
                    .bind(&t.owner)
                    .bind(&t.provider)
                    .bind(&t.version)
                    .bind(j.status.as_str())
                    .bind(&j.nonce)
                    .bind(&j.data)
                    .bind(j.created_ms)
                    .bind(j.updated_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                for (job_id, status) in &w.finished_jobs {
                    sqlx::query("UPDATE jobs SET status = ? WHERE job_id = ?")
                        .bind(status.as_str())
                        .bind(job_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                for t in &w.fired_timers {
                    sqlx::query("DELETE FROM timers WHERE pipeline = ? AND key = ?")
                        .bind(&t.pipeline)
                        .bind(&t.key)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                for t in &w.new_timers {
                    sqlx::query(
                        "INSERT INTO timers (pipeline, key, due_ms) VALUES (?, ?, ?)
                         ON CONFLICT (pipeline, key) DO UPDATE SET due_ms = excluded.due_ms",
                    )
                    .bind(&t.pipeline)
                    .bind(&t.key)
                    .bind(t.due_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                for o in &w.outbox {
                    sqlx::query("INSERT INTO outbox (id, topic, body, created_ms) VALUES (?, ?, ?, ?)")
                        .bind(&o.id)
                        .bind(&o.topic)
                        .bind(&o.body)
                        .bind(o.created_ms)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                if let Some((token, execution_id)) = &w.request_token {
                    sqlx::query(
                        "INSERT INTO request_tokens (pipeline, token, execution_id) VALUES (?, ?, ?)",
                    )
                    .bind(&w.pipeline)
                    .bind(token)
                    .bind(execution_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn execution(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE pipeline = ? AND execution_id = ?"
        ))
        .bind(pipeline)
        .bind(execution_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(execution))
    }

    async fn list_executions(
        &self,
        pipeline: &str,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ExecutionRecord>> {
        let (started, id) = before.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions e WHERE pipeline = ?
               AND (started_ms < ? OR (started_ms = ? AND rowid <
                     (SELECT rowid FROM executions WHERE pipeline = e.pipeline AND execution_id = ?)) OR ? = 1)
             ORDER BY started_ms DESC, rowid DESC LIMIT ?"
        ))
        .bind(pipeline)
        .bind(started)
        .bind(started)
        .bind(&id)
        .bind(i64::from(started == i64::MAX))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(execution).collect())
    }

    async fn execution_for_request_token(
        &self,
        pipeline: &str,
        token: &str,
    ) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT execution_id FROM request_tokens WHERE pipeline = ? AND token = ?")
                .bind(pipeline)
                .bind(token)
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn claim_jobs(
        &self,
        t: &ActionTypeKey,
        filter: &[(String, String)],
        nonces: &[String],
        now_ms: i64,
        redispatch_before_ms: i64,
    ) -> Result<Vec<JobRecord>> {
        let t = t.clone();
        let filter = filter.to_vec();
        let nonces = nonces.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                let t = &t;
                let filter = filter.as_slice();
                let nonces = nonces.as_slice();
                let tx = conn;
                let conditions: String = filter
                    .iter()
                    .map(|_| " AND json_extract(data, ?) = ?")
                    .collect();
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE category = ? AND owner = ? AND provider = ? AND version = ?
                       AND (status = 'Queued' OR (status = 'Dispatched' AND updated_ms <= ?)){conditions}
                     ORDER BY created_ms, job_id LIMIT ?"
                );
                let mut query = sqlx::query(&sql)
                    .bind(&t.category)
                    .bind(&t.owner)
                    .bind(&t.provider)
                    .bind(&t.version)
                    .bind(redispatch_before_ms);
                for (key, value) in filter {
                    // The key is quoted in the JSON path so any property name is taken literally.
                    let path = format!("$.configuration.\"{}\"", key.replace('"', ""));
                    query = query.bind(path).bind(value);
                }
                let rows = query
                    .bind(nonces.len() as i64)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?;
                let mut claimed = Vec::with_capacity(rows.len());
                for (row, nonce) in rows.iter().zip(nonces) {
                    let mut j = job(row)?;
                    sqlx::query(
                        "UPDATE jobs SET status = 'Dispatched', nonce = ?, updated_ms = ? WHERE job_id = ?",
                    )
                    .bind(nonce)
                    .bind(now_ms)
                    .bind(&j.job_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    j.status = JobStatus::Dispatched;
                    j.nonce = Some(nonce.clone());
                    j.updated_ms = now_ms;
                    claimed.push(j);
                }
                Ok(claimed)
            })
        })
        .await
    }

    async fn acknowledge_job(&self, job_id: &str, nonce: &str, now_ms: i64) -> Result<JobRecord> {
        let job_id = job_id.to_string();
        let nonce = nonce.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                let job_id = job_id.as_str();
                let nonce = nonce.as_str();
                let tx = conn;
                let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?"))
                    .bind(job_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?
                    .ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
                let mut j = job(&row)?;
                if j.nonce.as_deref() != Some(nonce) {
                    return Err(Error::InvalidNonce(job_id.into()));
                }
                if j.status == JobStatus::Dispatched {
                    sqlx::query(
                        "UPDATE jobs SET status = 'InProgress', updated_ms = ? WHERE job_id = ?",
                    )
                    .bind(now_ms)
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    j.status = JobStatus::InProgress;
                    j.updated_ms = now_ms;
                }
                Ok(j)
            })
        })
        .await
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?"))
            .bind(job_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(job).transpose()
    }

    async fn bind_client_token(&self, job_id: &str, client_token: &str) -> Result<()> {
        let job_id = job_id.to_string();
        let client_token = client_token.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                let job_id = job_id.as_str();
                let client_token = client_token.as_str();
                let tx = conn;
                let bound: Option<Option<String>> =
                    sqlx::query("SELECT client_token FROM jobs WHERE job_id = ?")
                        .bind(job_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?
                        .map(|r| r.get(0));
                match bound {
                    None => return Err(Error::NotFound(format!("job {job_id}"))),
                    Some(Some(token)) if token != client_token => {
                        return Err(Error::InvalidClientToken(job_id.into()))
                    }
                    Some(Some(_)) => {}
                    Some(None) => {
                        sqlx::query("UPDATE jobs SET client_token = ? WHERE job_id = ?")
                            .bind(client_token)
                            .bind(job_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn due_timers(&self, now_ms: i64, limit: usize) -> Result<Vec<TimerRecord>> {
        let rows = sqlx::query(
            "SELECT pipeline, key, due_ms FROM timers WHERE due_ms <= ? ORDER BY due_ms LIMIT ?",
        )
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| TimerRecord {
                pipeline: r.get(0),
                key: r.get(1),
                due_ms: r.get(2),
            })
            .collect())
    }

    async fn outbox(&self, limit: usize) -> Result<Vec<OutboxRecord>> {
        let rows = sqlx::query(
            "SELECT id, topic, body, created_ms FROM outbox ORDER BY created_ms, id LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| OutboxRecord {
                id: r.get(0),
                topic: r.get(1),
                body: r.get(2),
                created_ms: r.get(3),
            })
            .collect())
    }
}
