//! CodeDeploy's resources, deployments and open host commands.

use crate::{backend, serializable, Bind, PgStore, Tx};
use async_trait::async_trait;
use sluice_store::from_row::{self, COMMAND_COLUMNS, DEPLOYMENT_COLUMNS, RESOURCE_COLUMNS};
use sluice_store::{
    listing_sql, DeployKind, DeployResource, DeployStore, DeploymentQuery, DeploymentRecord, Error,
    HostCommandRecord, Result,
};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

async fn insert_commands(c: &mut PgConnection, commands: &[HostCommandRecord]) -> Tx<()> {
    for command in commands {
        sqlx::query(&format!(
            "INSERT INTO host_commands ({COMMAND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&command.id)
        .bind(&command.host)
        .bind(&command.deployment_id)
        .bind(&command.event)
        .bind(&command.state)
        .bind(command.created_ms)
        .bind(command.lease_until_ms)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

async fn insert_deployment(c: &mut PgConnection, d: &DeploymentRecord) -> Tx<()> {
    sqlx::query(&format!(
        "INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&d.id)
    .bind(&d.application)
    .bind(&d.deployment_group)
    .bind(&d.status)
    .bind(d.create_ms)
    .bind(d.rev)
    .bind(&d.creator_token)
    .bind(&d.doc)
    .execute(c)
    .await?;
    Ok(())
}

/// `AlreadyExists(owner)` when another resource of the kind answers to `owner`.
async fn owner_free(
    c: &mut PgConnection,
    kind: &str,
    owner: &str,
    itself: Option<(&str, &str)>,
) -> Tx<()> {
    let holder =
        sqlx::query("SELECT scope, name FROM deploy_resources WHERE kind = $1 AND owner = $2")
            .bind(kind)
            .bind(owner)
            .fetch_optional(c)
            .await?
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)));
    match holder {
        Some((scope, name)) if itself != Some((scope.as_str(), name.as_str())) => {
            Err(Error::AlreadyExists(owner.to_string()).into())
        }
        _ => Ok(()),
    }
}

async fn resource_exists(c: &mut PgConnection, kind: &str, scope: &str, name: &str) -> Tx<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM deploy_resources WHERE kind = $1 AND scope = $2 AND name = $3")
            .bind(kind)
            .bind(scope)
            .bind(name)
            .fetch_optional(c)
            .await?
            .is_some(),
    )
}

#[async_trait]
impl DeployStore for PgStore {
    async fn create_deploy_resource(&self, r: &DeployResource, max: usize) -> Result<()> {
        let kind = r.kind.name();
        serializable!(self, |tx| {
            if resource_exists(&mut tx, kind, &r.scope, &r.name).await? {
                return Err(Error::AlreadyExists(r.name.clone()).into());
            }
            let count: i64 =
                sqlx::query("SELECT COUNT(*) FROM deploy_resources WHERE kind = $1 AND scope = $2")
                    .bind(kind)
                    .bind(&r.scope)
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0);
            if count as usize >= max {
                return Err(Error::LimitExceeded(format!(
                    "there are {count} of kind {kind} (limit {max})"
                ))
                .into());
            }
            if let Some(owner) = &r.owner {
                owner_free(&mut tx, kind, owner, None).await?;
            }
            sqlx::query(&format!(
                "INSERT INTO deploy_resources (kind, {RESOURCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(kind)
            .bind(&r.scope)
            .bind(&r.name)
            .bind(&r.doc)
            .bind(r.created_ms)
            .bind(&r.owner)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn replace_deploy_resource(&self, old: &str, r: &DeployResource) -> Result<()> {
        let kind = r.kind.name();
        serializable!(self, |tx| {
            if !resource_exists(&mut tx, kind, &r.scope, old).await? {
                return Err(Error::NotFound(old.to_string()).into());
            }
            if old != r.name && resource_exists(&mut tx, kind, &r.scope, &r.name).await? {
                return Err(Error::AlreadyExists(r.name.clone()).into());
            }
            if let Some(owner) = &r.owner {
                owner_free(&mut tx, kind, owner, Some((&r.scope, old))).await?;
            }
            sqlx::query(
                "UPDATE deploy_resources SET name = $1, doc = $2, owner = $3
                 WHERE kind = $4 AND scope = $5 AND name = $6",
            )
            .bind(&r.name)
            .bind(&r.doc)
            .bind(&r.owner)
            .bind(kind)
            .bind(&r.scope)
            .bind(old)
            .execute(&mut *tx)
            .await?;
            if r.kind == DeployKind::Application && old != r.name {
                sqlx::query(
                    "UPDATE deploy_resources SET scope = $1 WHERE scope = $2 AND kind IN ('group', 'revision')",
                )
                .bind(&r.name)
                .bind(old)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE deployments SET application = $1 WHERE application = $2")
                    .bind(&r.name)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
            }
            if r.kind == DeployKind::DeploymentGroup && old != r.name {
                sqlx::query(
                    "UPDATE deployments SET deployment_group = $1
                     WHERE application = $2 AND deployment_group = $3",
                )
                .bind(&r.name)
                .bind(&r.scope)
                .bind(old)
                .execute(&mut *tx)
                .await?;
            }
            Ok(())
        })
    }

    async fn deploy_resource(
        &self,
        kind: DeployKind,
        scope: &str,
        name: &str,
    ) -> Result<Option<DeployResource>> {
        let row = sqlx::query(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM deploy_resources WHERE kind = $1 AND scope = $2 AND name = $3"
        ))
        .bind(kind.name())
        .bind(scope)
        .bind(name)
        .fetch_optional(&self.pool)
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
            "SELECT {RESOURCE_COLUMNS} FROM deploy_resources WHERE kind = $1 AND owner = $2"
        ))
        .bind(kind.name())
        .bind(owner)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(|r| from_row::deploy_resource(kind, r)))
    }

    async fn deploy_resources(&self, kind: DeployKind, scope: &str) -> Result<Vec<DeployResource>> {
        let rows = sqlx::query(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM deploy_resources WHERE kind = $1 AND scope = $2 ORDER BY name"
        ))
        .bind(kind.name())
        .bind(scope)
        .fetch_all(&self.pool)
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
        serializable!(self, |tx| {
            let deleted = sqlx::query(
                "DELETE FROM deploy_resources WHERE kind = $1 AND scope = $2 AND name = $3",
            )
            .bind(kind.name())
            .bind(scope)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if deleted && kind == DeployKind::Application {
                sqlx::query(
                    "DELETE FROM deploy_resources WHERE scope = $1 AND kind IN ('group', 'revision')",
                )
                .bind(name)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM deployments WHERE application = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(deleted)
        })
    }

    async fn create_deployment(
        &self,
        d: &DeploymentRecord,
        commands: &[HostCommandRecord],
    ) -> Result<()> {
        serializable!(self, |tx| {
            if let Some(token) = &d.creator_token {
                let existing = sqlx::query("SELECT id FROM deployments WHERE creator_token = $1")
                    .bind(token)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = existing {
                    return Err(Error::AlreadyExists(row.get(0)).into());
                }
            }
            insert_deployment(&mut tx, d).await?;
            insert_commands(&mut tx, commands).await
        })
    }

    async fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::deployment))
    }

    async fn deployment_by_token(&self, token: &str) -> Result<Option<DeploymentRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE creator_token = $1"
        ))
        .bind(token)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::deployment))
    }

    async fn deployments(
        &self,
        query: &DeploymentQuery,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>> {
        let mut sql =
            QueryBuilder::<Postgres>::new(format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments"));
        listing_sql::deployment_page(&mut sql, query, limit);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        Ok(rows.iter().map(from_row::deployment).collect())
    }

    async fn latest_deployment(
        &self,
        application: &str,
        group: &str,
        status: Option<&str>,
    ) -> Result<Option<DeploymentRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
             WHERE application = $1 AND deployment_group = $2 AND ($3::TEXT IS NULL OR status = $3)
             ORDER BY create_ms DESC, id DESC LIMIT 1"
        ))
        .bind(application)
        .bind(group)
        .bind(status)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::deployment))
    }

    async fn step_deployment(
        &self,
        d: &DeploymentRecord,
        expected_rev: i64,
        add: &[HostCommandRecord],
        remove: &[String],
        spawn: Option<&DeploymentRecord>,
    ) -> Result<()> {
        serializable!(self, |tx| {
            let changed = sqlx::query(
                "UPDATE deployments SET status = $1, rev = $2, doc = $3 WHERE id = $4 AND rev = $5",
            )
            .bind(&d.status)
            .bind(d.rev)
            .bind(&d.doc)
            .bind(&d.id)
            .bind(expected_rev)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(Error::VersionConflict {
                    what: format!("deployment {}", d.id),
                    expected: expected_rev,
                }
                .into());
            }
            sqlx::query("DELETE FROM host_commands WHERE id = ANY($1)")
                .bind(remove)
                .execute(&mut *tx)
                .await?;
            if let Some(s) = spawn {
                insert_deployment(&mut tx, s).await?;
            }
            insert_commands(&mut tx, add).await
        })
    }

    async fn host_command(&self, id: &str) -> Result<Option<HostCommandRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM host_commands WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(from_row::host_command))
    }

    async fn host_commands(&self, host: &str) -> Result<Vec<HostCommandRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM host_commands WHERE host = $1 ORDER BY created_ms, id"
        ))
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::host_command).collect())
    }

    async fn set_host_command(&self, id: &str, state: &str, lease_until_ms: i64) -> Result<bool> {
        let sql = "UPDATE host_commands SET state = $1, lease_until_ms = $2 WHERE id = $3";
        let binds = [Bind::Text(state), Bind::Int(lease_until_ms), Bind::Text(id)];
        Ok(self.execute(sql, &binds).await? > 0)
    }

    async fn renew_host_leases(&self, host: &str, lease_until_ms: i64) -> Result<()> {
        let sql = "UPDATE host_commands SET lease_until_ms = $1
                   WHERE host = $2 AND lease_until_ms IS NOT NULL AND lease_until_ms < $1";
        self.execute(sql, &[Bind::Int(lease_until_ms), Bind::Text(host)])
            .await
            .map(|_| ())
    }

    async fn lapsed_host_commands(&self, now_ms: i64) -> Result<Vec<HostCommandRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM host_commands
             WHERE lease_until_ms IS NOT NULL AND lease_until_ms < $1 ORDER BY lease_until_ms"
        ))
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::host_command).collect())
    }
}
