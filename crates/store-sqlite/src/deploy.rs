//! CodeDeploy's resources, deployments and open host commands.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use sluice_store::from_row::{self, COMMAND_COLUMNS, DEPLOYMENT_COLUMNS, RESOURCE_COLUMNS};
use sluice_store::{
    listing_sql, DeployKind, DeployResource, DeployStore, DeploymentQuery, DeploymentRecord, Error,
    HostCommandRecord, Result,
};
use sqlx::{QueryBuilder, Sqlite};

fn insert_commands(tx: &rusqlite::Connection, commands: &[HostCommandRecord]) -> Result<()> {
    for c in commands {
        tx.execute(
            &format!("INSERT INTO host_commands ({COMMAND_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            params![
                c.id,
                c.host,
                c.deployment_id,
                c.event,
                c.state,
                c.created_ms,
                c.lease_until_ms
            ],
        )
        .map_err(db)?;
    }
    Ok(())
}

fn insert_deployment(tx: &rusqlite::Connection, d: &DeploymentRecord) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
        params![
            d.id,
            d.application,
            d.deployment_group,
            d.status,
            d.create_ms,
            d.rev,
            d.creator_token,
            d.doc
        ],
    )
    .map_err(db)?;
    Ok(())
}

/// `AlreadyExists(owner)` when another resource of the kind answers to `owner`.
fn owner_free(
    tx: &rusqlite::Connection,
    kind: &str,
    owner: &str,
    itself: Option<(&str, &str)>,
) -> Result<()> {
    let holder: Option<(String, String)> = tx
        .query_row(
            "SELECT scope, name FROM deploy_resources WHERE kind = ? AND owner = ?",
            params![kind, owner],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(db)?;
    match holder {
        Some((scope, name)) if itself != Some((scope.as_str(), name.as_str())) => {
            Err(Error::AlreadyExists(owner.to_string()))
        }
        _ => Ok(()),
    }
}

fn resource_exists(tx: &rusqlite::Connection, kind: &str, scope: &str, name: &str) -> Result<bool> {
    tx.query_row(
        "SELECT 1 FROM deploy_resources WHERE kind = ? AND scope = ? AND name = ?",
        params![kind, scope, name],
        |_| Ok(()),
    )
    .optional()
    .map_err(db)
    .map(|found| found.is_some())
}

/// The statement of one `ListDeployments` page (`listing_pages_seek_and_never_sort` checks
/// that each shape it takes walks an index in the page's order).
pub(crate) fn deployment_page(query: &DeploymentQuery, limit: usize) -> QueryBuilder<'_, Sqlite> {
    let mut sql = QueryBuilder::new(format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments"));
    listing_sql::deployment_page(&mut sql, query, limit);
    sql
}

#[async_trait]
impl DeployStore for SqliteStore {
    async fn create_deploy_resource(&self, resource: &DeployResource, max: usize) -> Result<()> {
        let r = resource.clone();
        self.write(move |tx| {
            let kind = r.kind.name();
            if resource_exists(tx, kind, &r.scope, &r.name)? {
                return Err(Error::AlreadyExists(r.name.clone()));
            }
            let count: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM deploy_resources WHERE kind = ? AND scope = ?",
                    params![kind, r.scope],
                    |row| row.get(0),
                )
                .map_err(db)?;
            if count as usize >= max {
                return Err(Error::LimitExceeded(format!(
                    "there are {count} of kind {kind} (limit {max})"
                )));
            }
            if let Some(owner) = &r.owner {
                owner_free(tx, kind, owner, None)?;
            }
            tx.execute(
                "INSERT INTO deploy_resources (kind, scope, name, doc, created_ms, owner) VALUES (?, ?, ?, ?, ?, ?)",
                params![kind, r.scope, r.name, r.doc, r.created_ms, r.owner],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn replace_deploy_resource(
        &self,
        old_name: &str,
        resource: &DeployResource,
    ) -> Result<()> {
        let (old, r) = (old_name.to_string(), resource.clone());
        self.write(move |tx| {
            let kind = r.kind.name();
            if !resource_exists(tx, kind, &r.scope, &old)? {
                return Err(Error::NotFound(old.clone()));
            }
            if old != r.name && resource_exists(tx, kind, &r.scope, &r.name)? {
                return Err(Error::AlreadyExists(r.name.clone()));
            }
            if let Some(owner) = &r.owner {
                owner_free(tx, kind, owner, Some((&r.scope, &old)))?;
            }
            tx.execute(
                "UPDATE deploy_resources SET name = ?, doc = ?, owner = ? WHERE kind = ? AND scope = ? AND name = ?",
                params![r.name, r.doc, r.owner, kind, r.scope, old],
            )
            .map_err(db)?;
            if r.kind == DeployKind::Application && old != r.name {
                tx.execute(
                    "UPDATE deploy_resources SET scope = ? WHERE scope = ? AND kind IN ('group', 'revision')",
                    params![r.name, old],
                )
                .map_err(db)?;
                tx.execute(
                    "UPDATE deployments SET application = ? WHERE application = ?",
                    params![r.name, old],
                )
                .map_err(db)?;
            }
            if r.kind == DeployKind::DeploymentGroup && old != r.name {
                tx.execute(
                    "UPDATE deployments SET deployment_group = ? WHERE application = ? AND deployment_group = ?",
                    params![r.name, r.scope, old],
                )
                .map_err(db)?;
            }
            Ok(())
        })
        .await
    }

    async fn deploy_resource(
        &self,
        kind: DeployKind,
        scope: &str,
        name: &str,
    ) -> Result<Option<DeployResource>> {
        let row = sqlx::query(
            &format!("SELECT {RESOURCE_COLUMNS} FROM deploy_resources WHERE kind = ? AND scope = ? AND name = ?"),
        )
        .bind(kind.name())
        .bind(scope)
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(|r| from_row::deploy_resource(kind, r)))
    }

    async fn deploy_resource_by_owner(
        &self,
        kind: DeployKind,
        owner: &str,
    ) -> Result<Option<DeployResource>> {
        let row = sqlx::query(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM deploy_resources WHERE kind = ? AND owner = ?"
        ))
        .bind(kind.name())
        .bind(owner)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(|r| from_row::deploy_resource(kind, r)))
    }

    async fn deploy_resources(&self, kind: DeployKind, scope: &str) -> Result<Vec<DeployResource>> {
        let rows = sqlx::query(
            &format!("SELECT {RESOURCE_COLUMNS} FROM deploy_resources WHERE kind = ? AND scope = ? ORDER BY name"),
        )
        .bind(kind.name())
        .bind(scope)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| from_row::deploy_resource(kind, r))
            .collect())
    }

    async fn delete_deploy_resource(
        &self,
        kind: DeployKind,
        scope: &str,
        name: &str,
    ) -> Result<bool> {
        let (scope, name) = (scope.to_string(), name.to_string());
        self.write(move |tx| {
            let deleted = tx
                .execute(
                    "DELETE FROM deploy_resources WHERE kind = ? AND scope = ? AND name = ?",
                    params![kind.name(), scope, name],
                )
                .map_err(db)?
                > 0;
            if deleted && kind == DeployKind::Application {
                tx.execute(
                    "DELETE FROM deploy_resources WHERE scope = ? AND kind IN ('group', 'revision')",
                    [&name],
                )
                .map_err(db)?;
                tx.execute("DELETE FROM deployments WHERE application = ?", [&name])
                    .map_err(db)?;
            }
            Ok(deleted)
        })
        .await
    }

    async fn create_deployment(
        &self,
        deployment: &DeploymentRecord,
        commands: &[HostCommandRecord],
    ) -> Result<()> {
        let (d, commands) = (deployment.clone(), commands.to_vec());
        self.write(move |tx| {
            if let Some(token) = &d.creator_token {
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT id FROM deployments WHERE creator_token = ?",
                        [token],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db)?;
                if let Some(id) = existing {
                    return Err(Error::AlreadyExists(id));
                }
            }
            insert_deployment(tx, &d)?;
            insert_commands(tx, &commands)
        })
        .await
    }

    async fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::deployment))
    }

    async fn deployment_by_token(&self, token: &str) -> Result<Option<DeploymentRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE creator_token = ?"
        ))
        .bind(token)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::deployment))
    }

    async fn deployments(
        &self,
        query: &DeploymentQuery,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>> {
        let rows = deployment_page(query, limit)
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(from_row::deployment).collect())
    }

    async fn latest_deployment(
        &self,
        application: &str,
        group: &str,
        status: Option<&str>,
    ) -> Result<Option<DeploymentRecord>> {
        let sql = match status {
            Some(_) => format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
                 WHERE application = ? AND deployment_group = ? AND status = ?
                 ORDER BY create_ms DESC, id DESC LIMIT 1"
            ),
            None => format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
                 WHERE application = ? AND deployment_group = ?
                 ORDER BY create_ms DESC, id DESC LIMIT 1"
            ),
        };
        let mut query = sqlx::query(&sql).bind(application).bind(group);
        if let Some(status) = status {
            query = query.bind(status);
        }
        let row = query.fetch_optional(&self.reader).await.map_err(backend)?;
        Ok(row.as_ref().map(from_row::deployment))
    }

    async fn step_deployment(
        &self,
        deployment: &DeploymentRecord,
        expected_rev: i64,
        add: &[HostCommandRecord],
        remove: &[String],
        spawn: Option<&DeploymentRecord>,
    ) -> Result<()> {
        let (d, add, remove) = (deployment.clone(), add.to_vec(), remove.to_vec());
        let spawn = spawn.cloned();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE deployments SET status = ?, rev = ?, doc = ? WHERE id = ? AND rev = ?",
                    params![d.status, d.rev, d.doc, d.id, expected_rev],
                )
                .map_err(db)?;
            if changed == 0 {
                return Err(Error::VersionConflict {
                    what: format!("deployment {}", d.id),
                    expected: expected_rev,
                });
            }
            for id in &remove {
                tx.execute("DELETE FROM host_commands WHERE id = ?", [id])
                    .map_err(db)?;
            }
            if let Some(s) = &spawn {
                insert_deployment(tx, s)?;
            }
            insert_commands(tx, &add)
        })
        .await
    }

    async fn host_command(&self, id: &str) -> Result<Option<HostCommandRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM host_commands WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::host_command))
    }

    async fn host_commands(&self, host: &str) -> Result<Vec<HostCommandRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM host_commands WHERE host = ? ORDER BY created_ms, id"
        ))
        .bind(host)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::host_command).collect())
    }

    async fn set_host_command(&self, id: &str, state: &str, lease_until_ms: i64) -> Result<bool> {
        let (id, state) = (id.to_string(), state.to_string());
        self.write(move |tx| {
            Ok(tx
                .execute(
                    "UPDATE host_commands SET state = ?, lease_until_ms = ? WHERE id = ?",
                    params![state, lease_until_ms, id],
                )
                .map_err(db)?
                > 0)
        })
        .await
    }

    async fn renew_host_leases(&self, host: &str, lease_until_ms: i64) -> Result<()> {
        let host = host.to_string();
        self.write(move |tx| {
            tx.execute(
                "UPDATE host_commands SET lease_until_ms = ? WHERE host = ? AND lease_until_ms IS NOT NULL AND lease_until_ms < ?",
                params![lease_until_ms, host, lease_until_ms],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn lapsed_host_commands(&self, now_ms: i64) -> Result<Vec<HostCommandRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM host_commands
             WHERE lease_until_ms IS NOT NULL AND lease_until_ms < ? ORDER BY lease_until_ms"
        ))
        .bind(now_ms)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::host_command).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::subscription_page;
    use sluice_store::PagePosition;

    /// Every shape a listing page's statement takes, planned on the real schema: a walk of an
    /// index that already holds the page's order, from the page's position, never a scan of the
    /// table or a sort, so a page costs the same at ten deployments or a million.
    #[tokio::test]
    async fn listing_pages_seek_and_never_sort() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sluice.db");
        SqliteStore::open(&path).await.expect("open").close().await;
        let c = rusqlite::Connection::open(&path).expect("open");
        let position = PagePosition {
            created_ms: 1,
            name: "d-X".into(),
        };
        let mut statements = Vec::new();
        let scopes = [(None, None), (Some("app"), None), (Some("app"), Some("g"))];
        for (application, group) in scopes {
            for statuses in [vec![], vec!["Failed".to_string(), "Stopped".to_string()]] {
                for range in [None, Some(5)] {
                    for after in [None, Some(position.clone())] {
                        let query = DeploymentQuery {
                            application: application.map(String::from),
                            group: group.map(String::from),
                            statuses: statuses.clone(),
                            created_from_ms: range,
                            created_to_ms: range,
                            after,
                        };
                        statements.push(deployment_page(&query, 101).sql().to_string());
                    }
                }
            }
        }
        for topic in [None, Some("arn:aws:sns:us-east-1:111111111111:t")] {
            for after in [None, Some(&position)] {
                statements.push(subscription_page(topic, after, 101).sql().to_string());
            }
        }
        for sql in statements {
            let mut plan = c
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan");
            let unbound = std::iter::repeat_n(rusqlite::types::Null, plan.parameter_count());
            let steps: Vec<String> = plan
                .query_map(rusqlite::params_from_iter(unbound), |row| row.get(3))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows");
            // An index walked in order stops at the page's end (LIMIT); a sort reads every row.
            let in_order = |step: &String| step.contains("USING INDEX") && !step.contains("TEMP");
            assert!(
                steps.iter().all(in_order),
                "{sql}\n  plans as: {}",
                steps.join("; ")
            );
        }
    }
}
