//! `RunStore` on SQLite: runtimes, execution history, jobs, timers, the outbox.

use crate::{backend, write_ops, SqliteStore};
use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sluice_store::from_row::{self, EXECUTION_COLUMNS, JOB_COLUMNS};
use sluice_store::{
    ActionTypeKey, ExecutionRecord, JobLease, JobRecord, Requeued, Result, RunStore, RuntimeRecord,
    StepWrite, TimerRecord,
};
use sqlx::Row;

/// Renews the leases of the jobs a server (`?2`) runs, to `?1`.
const RENEW_LEASES: &str = "UPDATE jobs SET lease_until_ms = ?1
     WHERE lease_owner = ?2 AND status IN ('Dispatched', 'InProgress')";

/// Lapsed jobs (a lease before `?1`: their server died) out of interruptions (`?2`): failed.
/// Unordered, so the planner reads the lease index rather than every job in key order.
const LAPSED_EXHAUSTED: &str = "SELECT job_id FROM jobs
     WHERE lease_owner IS NOT NULL AND lease_until_ms < ?1 AND status IN ('Dispatched', 'InProgress')
       AND interruptions >= ?2";

/// Lapsed jobs with interruptions to spare: queued again.
const LAPSED_REQUEUE: &str = "UPDATE jobs SET status = 'Queued', nonce = NULL, lease_owner = NULL,
         lease_until_ms = NULL, updated_ms = ?1, interruptions = interruptions + 1
     WHERE lease_owner IS NOT NULL AND lease_until_ms < ?1 AND status IN ('Dispatched', 'InProgress')
       AND interruptions < ?2";

#[async_trait]
impl RunStore for SqliteStore {
    async fn runtime(&self, pipeline: &str) -> Result<Option<RuntimeRecord>> {
        self.readers.read(|c| {
            c.prepare_cached("SELECT pipeline, rev, doc FROM runtimes WHERE pipeline = ?")
                .and_then(|mut statement| {
                    statement
                        .query_row([pipeline], |r| {
                            Ok(RuntimeRecord {
                                pipeline: r.get(0)?,
                                rev: r.get(1)?,
                                doc: r.get(2)?,
                            })
                        })
                        .optional()
                })
                .map_err(crate::write_ops::db)
        })
    }

    async fn commit_step(&self, w: &StepWrite) -> Result<()> {
        let w = w.clone();
        self.write(move |c| write_ops::commit_step(c, &w)).await
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
        Ok(row.as_ref().map(from_row::execution))
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
        Ok(rows.iter().map(from_row::execution).collect())
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

    async fn requeue_open_jobs(
        &self,
        action_types: &[ActionTypeKey],
        now_ms: i64,
        max_interruptions: u32,
    ) -> Result<Requeued> {
        let types = action_types.to_vec();
        self.write(move |c| {
            let mut outcome = Requeued::default();
            for t in &types {
                let mut exhausted = c
                    .prepare(
                        "SELECT job_id FROM jobs
                         WHERE category = ? AND owner = ? AND provider = ? AND version = ?
                           AND status IN ('Dispatched', 'InProgress') AND interruptions >= ?
                         ORDER BY job_id",
                    )
                    .map_err(write_ops::db)?;
                let ids = exhausted
                    .query_map(
                        rusqlite::params![
                            t.category,
                            t.owner,
                            t.provider,
                            t.version,
                            max_interruptions
                        ],
                        |row| row.get::<_, String>(0),
                    )
                    .map_err(write_ops::db)?;
                for id in ids {
                    outcome.exhausted.push(id.map_err(write_ops::db)?);
                }
                outcome.requeued += c
                    .execute(
                        "UPDATE jobs SET status = 'Queued', nonce = NULL, lease_owner = NULL,
                                         lease_until_ms = NULL, updated_ms = ?,
                                         interruptions = interruptions + 1
                         WHERE category = ? AND owner = ? AND provider = ? AND version = ?
                           AND status IN ('Dispatched', 'InProgress') AND interruptions < ?",
                        rusqlite::params![
                            now_ms,
                            t.category,
                            t.owner,
                            t.provider,
                            t.version,
                            max_interruptions
                        ],
                    )
                    .map_err(write_ops::db)?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn claim_jobs(
        &self,
        t: &ActionTypeKey,
        filter: &[(String, String)],
        nonces: &[String],
        now_ms: i64,
        redispatch_before_ms: i64,
    ) -> Result<Vec<JobRecord>> {
        let (t, filter, nonces) = (t.clone(), filter.to_vec(), nonces.to_vec());
        self.write(move |c| {
            write_ops::claim_jobs(c, &t, &filter, &nonces, now_ms, redispatch_before_ms)
        })
        .await
    }

    async fn acknowledge_job(
        &self,
        job_id: &str,
        nonce: &str,
        now_ms: i64,
        lease: Option<&JobLease>,
    ) -> Result<JobRecord> {
        let (job_id, nonce, lease) = (job_id.to_string(), nonce.to_string(), lease.cloned());
        self.write(move |c| write_ops::acknowledge_job(c, &job_id, &nonce, now_ms, lease.as_ref()))
            .await
    }

    async fn renew_job_leases(&self, owner: &str, until_ms: i64) -> Result<usize> {
        let owner = owner.to_string();
        self.write(move |c| {
            c.prepare_cached(RENEW_LEASES)
                .and_then(|mut renew| renew.execute(rusqlite::params![until_ms, owner]))
                .map_err(write_ops::db)
        })
        .await
    }

    async fn requeue_lapsed_jobs(&self, now_ms: i64, max_interruptions: u32) -> Result<Requeued> {
        self.write(move |c| {
            let mut outcome = Requeued::default();
            // Cached: the sweep runs every second.
            let mut exhausted = c.prepare_cached(LAPSED_EXHAUSTED).map_err(write_ops::db)?;
            let ids = exhausted
                .query_map(rusqlite::params![now_ms, max_interruptions], |row| {
                    row.get::<_, String>(0)
                })
                .map_err(write_ops::db)?;
            for id in ids {
                outcome.exhausted.push(id.map_err(write_ops::db)?);
            }
            outcome.exhausted.sort();
            outcome.requeued = c
                .prepare_cached(LAPSED_REQUEUE)
                .and_then(|mut requeue| {
                    requeue.execute(rusqlite::params![now_ms, max_interruptions])
                })
                .map_err(write_ops::db)?;
            Ok(outcome)
        })
        .await
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?"))
            .bind(job_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(from_row::job).transpose()
    }

    async fn bind_client_token(&self, job_id: &str, client_token: &str) -> Result<()> {
        let (job_id, client_token) = (job_id.to_string(), client_token.to_string());
        self.write(move |c| write_ops::bind_client_token(c, &job_id, &client_token))
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

    async fn prune_executions(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let limit = limit as i64;
        self.write(move |tx| {
            let doomed = "SELECT e.pipeline, e.execution_id FROM executions e
                 WHERE e.status IN ('Succeeded', 'Failed', 'Stopped', 'Superseded')
                   AND e.updated_ms < ?1
                   AND EXISTS (SELECT 1 FROM executions n WHERE n.pipeline = e.pipeline
                               AND (n.started_ms > e.started_ms
                                    OR (n.started_ms = e.started_ms AND n.rowid > e.rowid)))
                 ORDER BY e.updated_ms, e.execution_id LIMIT ?2";
            tx.execute(
                &format!("DELETE FROM request_tokens WHERE (pipeline, execution_id) IN ({doomed})"),
                rusqlite::params![before_ms, limit],
            )
            .map_err(crate::write_ops::db)?;
            tx.execute(
                &format!("DELETE FROM executions WHERE (pipeline, execution_id) IN ({doomed})"),
                rusqlite::params![before_ms, limit],
            )
            .map_err(crate::write_ops::db)
        })
        .await
    }

    async fn prune_finished_jobs(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let limit = limit as i64;
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs
                 WHERE status IN ('Succeeded', 'Failed', 'TimedOut', 'Cancelled') AND updated_ms < ?
                 LIMIT ?)",
                rusqlite::params![before_ms, limit],
            )
            .map_err(crate::write_ops::db)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lapsed-lease sweep runs each second and renewals thrice a lease: their work must not
    /// grow with the jobs that ever ran (each keeps the name of the server that ran it).
    #[tokio::test]
    async fn lease_sweeps_read_only_jobs_whose_lease_is_live() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sluice.db");
        SqliteStore::open(&path).await.expect("open").close().await;
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch(
            "PRAGMA foreign_keys = OFF;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             INSERT INTO jobs (job_id, pipeline, execution_id, category, owner, provider, version,
                               status, data, created_ms, updated_ms, lease_owner, lease_until_ms)
             SELECT printf('done-%04d', i), 'p', 'e', 'Build', 'AWS', 'CodeBuild', '1',
                    'Succeeded', '{}', i, i, 'server-a', i FROM n;
             INSERT INTO jobs (job_id, pipeline, execution_id, category, owner, provider, version,
                               status, data, created_ms, updated_ms, lease_owner, lease_until_ms)
             VALUES ('running', 'p', 'e', 'Build', 'AWS', 'CodeBuild', '1',
                     'InProgress', '{}', 1, 1, 'server-a', 5000);",
        )
        .expect("seed");
        // A thousand finished jobs cost a scan thousands of steps; the live lease, a handful.
        let steps = |statement: &rusqlite::Statement| {
            statement.get_status(rusqlite::StatementStatus::VmStep)
        };
        let mut exhausted = c.prepare(LAPSED_EXHAUSTED).expect("prepare");
        let ids: Vec<String> = exhausted
            .query_map(rusqlite::params![9000, 0], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(ids, ["running"]);
        assert!(steps(&exhausted) < 200, "{} steps", steps(&exhausted));
        let mut renew = c.prepare(RENEW_LEASES).expect("prepare");
        assert_eq!(
            renew
                .execute(rusqlite::params![8000, "server-a"])
                .expect("renew"),
            1
        );
        assert!(steps(&renew) < 200, "{} steps", steps(&renew));
        let mut requeue = c.prepare(LAPSED_REQUEUE).expect("prepare");
        assert_eq!(
            requeue
                .execute(rusqlite::params![9000, 5])
                .expect("requeue"),
            1
        );
        assert!(steps(&requeue) < 200, "{} steps", steps(&requeue));
    }
}
