//! `RunStore` on PostgreSQL: runtimes, execution history, jobs, timers, the outbox.

use crate::notifications::insert_outbox;
use crate::{backend, serializable, transaction, Isolation, PgStore, Tx};
use async_trait::async_trait;
use sluice_store::from_row::{self, EXECUTION_COLUMNS, JOB_COLUMNS};
use sluice_store::{
    ActionTypeKey, Error, ExecutionRecord, JobLease, JobRecord, JobStatus, RemoteChange,
    RemoteChangeListener, Requeued, Result, RunStore, RuntimeRecord, StepWrite, TimerRecord,
};
use sqlx::{PgConnection, Row};

/// One engine step at READ COMMITTED: the runtime row is locked first, so steps of one
/// pipeline take turns and a step computed from an older `rev` is refused; steps of different
/// pipelines never wait for or abort each other. (Two first steps of a pipeline race to insert
/// its runtime row: the loser's unique-key error runs it again, and it finds `rev` moved.)
async fn commit_step(c: &mut PgConnection, w: &StepWrite) -> Tx<()> {
    let rev: Option<i64> = sqlx::query("SELECT rev FROM runtimes WHERE pipeline = $1 FOR UPDATE")
        .bind(&w.pipeline)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| r.get(0));
    let rev = match rev {
        Some(rev) => rev,
        None => {
            // No runtime yet: the pipeline itself must exist, and stay until the runtime row
            // (which keeps it alive) is in.
            let exists = sqlx::query("SELECT 1 FROM pipelines WHERE name = $1 FOR SHARE")
                .bind(&w.pipeline)
                .fetch_optional(&mut *c)
                .await?
                .is_some();
            if !exists {
                return Err(Error::NotFound(format!("pipeline {}", w.pipeline)).into());
            }
            0
        }
    };
    if rev != w.expected_rev {
        return Err(Error::VersionConflict {
            what: format!("runtime of pipeline {}", w.pipeline),
            expected: w.expected_rev,
        }
        .into());
    }
    sqlx::query(
        "INSERT INTO runtimes (pipeline, rev, doc) VALUES ($1, $2, $3)
         ON CONFLICT (pipeline) DO UPDATE SET rev = EXCLUDED.rev, doc = EXCLUDED.doc",
    )
    .bind(&w.pipeline)
    .bind(rev + 1)
    .bind(&w.runtime_doc)
    .execute(&mut *c)
    .await?;
    for e in &w.executions {
        sqlx::query(
            "INSERT INTO executions (pipeline, execution_id, status, started_ms, updated_ms, doc)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (pipeline, execution_id) DO UPDATE SET status = EXCLUDED.status,
               updated_ms = EXCLUDED.updated_ms, doc = EXCLUDED.doc",
        )
        .bind(&e.pipeline)
        .bind(&e.execution_id)
        .bind(&e.status)
        .bind(e.started_ms)
        .bind(e.updated_ms)
        .bind(&e.doc)
        .execute(&mut *c)
        .await?;
    }
    for j in &w.new_jobs {
        let t = &j.action_type;
        sqlx::query(&format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
        .execute(&mut *c)
        .await?;
    }
    for (job_id, status) in &w.finished_jobs {
        sqlx::query("UPDATE jobs SET status = $1 WHERE job_id = $2")
            .bind(status.as_str())
            .bind(job_id)
            .execute(&mut *c)
            .await?;
    }
    for t in &w.fired_timers {
        sqlx::query("DELETE FROM timers WHERE pipeline = $1 AND key = $2")
            .bind(&t.pipeline)
            .bind(&t.key)
            .execute(&mut *c)
            .await?;
    }
    for t in &w.new_timers {
        sqlx::query(
            "INSERT INTO timers (pipeline, key, due_ms) VALUES ($1, $2, $3)
             ON CONFLICT (pipeline, key) DO UPDATE SET due_ms = EXCLUDED.due_ms",
        )
        .bind(&t.pipeline)
        .bind(&t.key)
        .bind(t.due_ms)
        .execute(&mut *c)
        .await?;
    }
    insert_outbox(c, &w.outbox).await?;
    if let Some((token, execution_id)) = &w.request_token {
        sqlx::query(
            "INSERT INTO request_tokens (pipeline, token, execution_id) VALUES ($1, $2, $3)",
        )
        .bind(&w.pipeline)
        .bind(token)
        .bind(execution_id)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Locks up to `nonces.len()` claimable jobs (skipping rows another poller holds) and
/// dispatches them.
async fn claim_jobs(
    c: &mut PgConnection,
    t: &ActionTypeKey,
    filter: &[(String, String)],
    nonces: &[String],
    now_ms: i64,
    redispatch_before_ms: i64,
) -> Tx<Vec<JobRecord>> {
    let mut conditions = String::new();
    for i in 0..filter.len() {
        let (key, value) = (7 + 2 * i, 8 + 2 * i);
        conditions.push_str(&format!(
            " AND (data::jsonb -> 'configuration' ->> ${key}) = ${value}"
        ));
    }
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs
         WHERE category = $1 AND owner = $2 AND provider = $3 AND version = $4
           AND status IN ('Queued', 'Dispatched')
           AND (status = 'Queued' OR updated_ms <= $5){conditions}
         ORDER BY created_ms, job_id LIMIT $6 FOR UPDATE SKIP LOCKED"
    );
    let mut query = sqlx::query(&sql)
        .bind(&t.category)
        .bind(&t.owner)
        .bind(&t.provider)
        .bind(&t.version)
        .bind(redispatch_before_ms)
        .bind(nonces.len() as i64);
    for (key, value) in filter {
        query = query.bind(key).bind(value);
    }
    let found = query.fetch_all(&mut *c).await?;
    let mut claimed = Vec::with_capacity(found.len());
    for (row, nonce) in found.iter().zip(nonces) {
        let mut j = from_row::job(row)?;
        sqlx::query(
            "UPDATE jobs SET status = 'Dispatched', nonce = $1, updated_ms = $2 WHERE job_id = $3",
        )
        .bind(nonce)
        .bind(now_ms)
        .bind(&j.job_id)
        .execute(&mut *c)
        .await?;
        j.status = JobStatus::Dispatched;
        j.nonce = Some(nonce.clone());
        j.updated_ms = now_ms;
        claimed.push(j);
    }
    Ok(claimed)
}

#[async_trait]
impl RunStore for PgStore {
    async fn runtime(&self, pipeline: &str) -> Result<Option<RuntimeRecord>> {
        let row = sqlx::query("SELECT pipeline, rev, doc FROM runtimes WHERE pipeline = $1")
            .bind(pipeline)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.map(|r| RuntimeRecord {
            pipeline: r.get(0),
            rev: r.get(1),
            doc: r.get(2),
        }))
    }

    async fn commit_step(&self, w: &StepWrite) -> Result<()> {
        let mut changes = vec![RemoteChange::PipelineState];
        for j in w.new_jobs.iter().filter(|j| j.status == JobStatus::Queued) {
            let queued = RemoteChange::JobsQueued(j.action_type.clone());
            if !changes.contains(&queued) {
                changes.push(queued);
            }
        }
        if !w.outbox.is_empty() {
            changes.push(RemoteChange::Outbox);
        }
        transaction!(self, Isolation::ReadCommitted, |tx| {
            commit_step(&mut tx, w).await?;
            self.notify(&mut tx, &changes).await
        })
    }

    fn listen_for_changes(&self, listener: RemoteChangeListener) {
        self.start_listening(listener);
    }

    async fn execution(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE pipeline = $1 AND execution_id = $2"
        ))
        .bind(pipeline)
        .bind(execution_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::execution))
    }

    async fn list_executions(
        &self,
        pipeline: &str,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ExecutionRecord>> {
        let rows = match before {
            None => {
                sqlx::query(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions WHERE pipeline = $1
                     ORDER BY started_ms DESC, seq DESC LIMIT $2"
                ))
                .bind(pipeline)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
            }
            Some((started, id)) => {
                sqlx::query(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions e WHERE pipeline = $1
                       AND (started_ms < $2 OR (started_ms = $2 AND seq <
                            (SELECT seq FROM executions WHERE pipeline = e.pipeline AND execution_id = $3)))
                     ORDER BY started_ms DESC, seq DESC LIMIT $4"
                ))
                .bind(pipeline)
                .bind(started)
                .bind(&id)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::execution).collect())
    }

    async fn execution_for_request_token(
        &self,
        pipeline: &str,
        token: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT execution_id FROM request_tokens WHERE pipeline = $1 AND token = $2",
        )
        .bind(pipeline)
        .bind(token)
        .fetch_optional(&self.pool)
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
        transaction!(self, Isolation::ReadCommitted, |tx| {
            claim_jobs(&mut tx, t, filter, nonces, now_ms, redispatch_before_ms).await
        })
    }

    async fn requeue_open_jobs(
        &self,
        action_types: &[ActionTypeKey],
        now_ms: i64,
        max_interruptions: u32,
    ) -> Result<Requeued> {
        let max = i64::from(max_interruptions);
        serializable!(self, |tx| {
            let mut outcome = Requeued::default();
            for t in action_types {
                let rows = sqlx::query(
                    "SELECT job_id FROM jobs
                     WHERE category = $1 AND owner = $2 AND provider = $3 AND version = $4
                       AND status IN ('Dispatched', 'InProgress') AND interruptions >= $5
                     ORDER BY job_id",
                )
                .bind(&t.category)
                .bind(&t.owner)
                .bind(&t.provider)
                .bind(&t.version)
                .bind(max)
                .fetch_all(&mut *tx)
                .await?;
                outcome
                    .exhausted
                    .extend(rows.iter().map(|r| r.get::<String, _>(0)));
                outcome.requeued += sqlx::query(
                    "UPDATE jobs SET status = 'Queued', nonce = NULL, lease_owner = NULL,
                                     lease_until_ms = NULL, updated_ms = $1,
                                     interruptions = interruptions + 1
                     WHERE category = $2 AND owner = $3 AND provider = $4 AND version = $5
                       AND status IN ('Dispatched', 'InProgress') AND interruptions < $6",
                )
                .bind(now_ms)
                .bind(&t.category)
                .bind(&t.owner)
                .bind(&t.provider)
                .bind(&t.version)
                .bind(max)
                .execute(&mut *tx)
                .await?
                .rows_affected() as usize;
            }
            Ok(outcome)
        })
    }

    async fn acknowledge_job(
        &self,
        job_id: &str,
        nonce: &str,
        now_ms: i64,
        lease: Option<&JobLease>,
    ) -> Result<JobRecord> {
        serializable!(self, |tx| {
            let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1"))
                .bind(job_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Error::NotFound(format!("job {job_id}")))?;
            let mut j = from_row::job(&row)?;
            if j.nonce.as_deref() != Some(nonce) {
                return Err(Error::InvalidNonce(job_id.into()).into());
            }
            if j.status == JobStatus::Dispatched {
                sqlx::query(
                    "UPDATE jobs SET status = 'InProgress', updated_ms = $1 WHERE job_id = $2",
                )
                .bind(now_ms)
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
                j.status = JobStatus::InProgress;
                j.updated_ms = now_ms;
            }
            if let Some(lease) = lease {
                sqlx::query(
                    "UPDATE jobs SET lease_owner = $1, lease_until_ms = $2 WHERE job_id = $3",
                )
                .bind(&lease.owner)
                .bind(lease.until_ms)
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
            }
            Ok(j)
        })
    }

    async fn renew_job_leases(&self, owner: &str, until_ms: i64) -> Result<usize> {
        let renewed = sqlx::query(
            "UPDATE jobs SET lease_until_ms = $1
             WHERE lease_owner = $2 AND status IN ('Dispatched', 'InProgress')",
        )
        .bind(until_ms)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(renewed.rows_affected() as usize)
    }

    async fn requeue_lapsed_jobs(&self, now_ms: i64, max_interruptions: u32) -> Result<Requeued> {
        let max = i64::from(max_interruptions);
        transaction!(self, Isolation::ReadCommitted, |tx| {
            // Locked first, so a renewal committed meanwhile keeps its job.
            let lapsed = sqlx::query(
                "SELECT job_id, interruptions FROM jobs
                 WHERE lease_owner IS NOT NULL AND lease_until_ms < $1
                   AND status IN ('Dispatched', 'InProgress')
                 ORDER BY job_id FOR UPDATE",
            )
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await?;
            let mut outcome = Requeued::default();
            let mut requeue = Vec::new();
            for row in &lapsed {
                let (id, interruptions): (String, i64) = (row.get(0), row.get(1));
                if interruptions >= max {
                    outcome.exhausted.push(id);
                } else {
                    requeue.push(id);
                }
            }
            outcome.requeued = sqlx::query(
                "UPDATE jobs SET status = 'Queued', nonce = NULL, lease_owner = NULL, lease_until_ms = NULL,
                                 updated_ms = $1, interruptions = interruptions + 1
                 WHERE job_id = ANY($2) AND lease_until_ms < $1",
            )
            .bind(now_ms)
            .bind(&requeue)
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize;
            Ok(outcome)
        })
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1"))
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(from_row::job).transpose()
    }

    async fn bind_client_token(&self, job_id: &str, client_token: &str) -> Result<()> {
        serializable!(self, |tx| {
            let bound: Option<Option<String>> =
                sqlx::query("SELECT client_token FROM jobs WHERE job_id = $1")
                    .bind(job_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.get(0));
            match bound {
                None => Err(Error::NotFound(format!("job {job_id}")).into()),
                Some(Some(token)) if token != client_token => {
                    Err(Error::InvalidClientToken(job_id.into()).into())
                }
                Some(Some(_)) => Ok(()),
                Some(None) => {
                    sqlx::query("UPDATE jobs SET client_token = $1 WHERE job_id = $2")
                        .bind(client_token)
                        .bind(job_id)
                        .execute(&mut *tx)
                        .await?;
                    Ok(())
                }
            }
        })
    }

    async fn due_timers(&self, now_ms: i64, limit: usize) -> Result<Vec<TimerRecord>> {
        let rows = sqlx::query(
            "SELECT pipeline, key, due_ms FROM timers WHERE due_ms <= $1
             ORDER BY due_ms, pipeline, key LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(&self.pool)
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

    async fn prune_executions(&self, before_ms: i64, limit: usize) -> Result<usize> {
        serializable!(self, |tx| {
            let doomed = sqlx::query(
                "SELECT e.pipeline, e.execution_id FROM executions e
                 WHERE e.status IN ('Succeeded', 'Failed', 'Stopped', 'Superseded')
                   AND e.updated_ms < $1
                   AND EXISTS (SELECT 1 FROM executions n WHERE n.pipeline = e.pipeline
                               AND (n.started_ms > e.started_ms
                                    OR (n.started_ms = e.started_ms AND n.seq > e.seq)))
                 ORDER BY e.updated_ms, e.execution_id LIMIT $2",
            )
            .bind(before_ms)
            .bind(limit as i64)
            .fetch_all(&mut *tx)
            .await?;
            let pipelines: Vec<String> = doomed.iter().map(|r| r.get(0)).collect();
            let ids: Vec<String> = doomed.iter().map(|r| r.get(1)).collect();
            sqlx::query(
                "DELETE FROM request_tokens WHERE (pipeline, execution_id) IN
                 (SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[]))",
            )
            .bind(&pipelines)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
            Ok(sqlx::query(
                "DELETE FROM executions WHERE (pipeline, execution_id) IN
                 (SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[]))",
            )
            .bind(&pipelines)
            .bind(&ids)
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize)
        })
    }

    async fn prune_finished_jobs(&self, before_ms: i64, limit: usize) -> Result<usize> {
        serializable!(self, |tx| {
            Ok(sqlx::query(
                "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs
                 WHERE status IN ('Succeeded', 'Failed', 'TimedOut', 'Cancelled') AND updated_ms < $1
                 LIMIT $2)",
            )
            .bind(before_ms)
            .bind(limit as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize)
        })
    }
}
