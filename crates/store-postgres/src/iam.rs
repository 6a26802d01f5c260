//! IAM identities and policies. Names are unique per kind ignoring ASCII case, as IAM's are
//! (and as SQLite's `NOCASE` compares): every table keeps the folded name as its key beside
//! the spelling given.

use crate::{backend, serializable, Bind, PgStore};
use async_trait::async_trait;
use sluice_store::from_row::{self, POLICY_COLUMNS, PRINCIPAL_COLUMNS};
use sluice_store::{Error, IamStore, ManagedPolicyRecord, PrincipalKind, PrincipalRecord, Result};
use sqlx::Row;

/// The key a name is compared by.
fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl PgStore {
    async fn strings(&self, sql: &str, binds: &[&str]) -> Result<Vec<String>> {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(backend)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

#[async_trait]
impl IamStore for PgStore {
    async fn create_principal(&self, p: &PrincipalRecord) -> Result<()> {
        let key = fold(&p.name);
        serializable!(self, |tx| {
            let exists =
                sqlx::query("SELECT 1 FROM iam_principals WHERE kind = $1 AND name_key = $2")
                    .bind(p.kind.as_str())
                    .bind(&key)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            if exists {
                return Err(Error::AlreadyExists(p.name.clone()).into());
            }
            sqlx::query(&format!(
                "INSERT INTO iam_principals ({PRINCIPAL_COLUMNS}, name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(p.kind.as_str())
            .bind(&p.name)
            .bind(&p.id)
            .bind(&p.arn)
            .bind(&p.path)
            .bind(p.created_ms)
            .bind(&p.trust_policy)
            .bind(&p.description)
            .bind(&key)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn principal(&self, kind: PrincipalKind, name: &str) -> Result<Option<PrincipalRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM iam_principals WHERE kind = $1 AND name_key = $2"
        ))
        .bind(kind.as_str())
        .bind(fold(name))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::principal))
    }

    async fn list_principals(&self, kind: PrincipalKind) -> Result<Vec<PrincipalRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM iam_principals WHERE kind = $1 ORDER BY name_key"
        ))
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::principal).collect())
    }

    async fn delete_principal(&self, kind: PrincipalKind, name: &str) -> Result<bool> {
        let sql = "DELETE FROM iam_principals WHERE kind = $1 AND name_key = $2";
        let key = fold(name);
        Ok(self
            .execute(sql, &[Bind::Text(kind.as_str()), Bind::Text(&key)])
            .await?
            > 0)
    }

    async fn set_trust_policy(&self, role: &str, document: &str) -> Result<bool> {
        let sql =
            "UPDATE iam_principals SET trust_policy = $1 WHERE kind = 'role' AND name_key = $2";
        let key = fold(role);
        Ok(self
            .execute(sql, &[Bind::Text(document), Bind::Text(&key)])
            .await?
            > 0)
    }

    async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
        document: &str,
    ) -> Result<()> {
        let sql = "INSERT INTO iam_inline_policies (kind, principal_key, name, document) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (kind, principal_key, name) DO UPDATE SET document = EXCLUDED.document";
        let key = fold(principal);
        let binds = [
            Bind::Text(kind.as_str()),
            Bind::Text(&key),
            Bind::Text(name),
            Bind::Text(document),
        ];
        self.execute(sql, &binds).await.map(|_| ())
    }

    async fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
    ) -> Result<bool> {
        let sql =
            "DELETE FROM iam_inline_policies WHERE kind = $1 AND principal_key = $2 AND name = $3";
        let key = fold(principal);
        let binds = [
            Bind::Text(kind.as_str()),
            Bind::Text(&key),
            Bind::Text(name),
        ];
        Ok(self.execute(sql, &binds).await? > 0)
    }

    async fn inline_policies(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT name, document FROM iam_inline_policies WHERE kind = $1 AND principal_key = $2
             ORDER BY name",
        )
        .bind(kind.as_str())
        .bind(fold(principal))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn create_managed_policy(&self, p: &ManagedPolicyRecord) -> Result<()> {
        serializable!(self, |tx| {
            let exists = sqlx::query("SELECT 1 FROM iam_policies WHERE arn = $1")
                .bind(&p.arn)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if exists {
                return Err(Error::AlreadyExists(p.arn.clone()).into());
            }
            sqlx::query(&format!(
                "INSERT INTO iam_policies ({POLICY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .bind(&p.arn)
            .bind(&p.name)
            .bind(&p.id)
            .bind(&p.path)
            .bind(&p.description)
            .bind(&p.document)
            .bind(p.created_ms)
            .bind(p.updated_ms)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicyRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM iam_policies WHERE arn = $1"
        ))
        .bind(arn)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::managed_policy))
    }

    async fn list_managed_policies(&self) -> Result<Vec<ManagedPolicyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM iam_policies ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::managed_policy).collect())
    }

    async fn delete_managed_policy(&self, arn: &str) -> Result<bool> {
        let sql = "DELETE FROM iam_policies WHERE arn = $1";
        Ok(self.execute(sql, &[Bind::Text(arn)]).await? > 0)
    }

    async fn attach_policy(&self, kind: PrincipalKind, principal: &str, arn: &str) -> Result<()> {
        let sql =
            "INSERT INTO iam_attachments (kind, principal_key, policy_arn) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING";
        let key = fold(principal);
        let binds = [Bind::Text(kind.as_str()), Bind::Text(&key), Bind::Text(arn)];
        self.execute(sql, &binds).await.map(|_| ())
    }

    async fn detach_policy(&self, kind: PrincipalKind, principal: &str, arn: &str) -> Result<bool> {
        let sql = "DELETE FROM iam_attachments WHERE kind = $1 AND principal_key = $2 AND policy_arn = $3";
        let key = fold(principal);
        let binds = [Bind::Text(kind.as_str()), Bind::Text(&key), Bind::Text(arn)];
        Ok(self.execute(sql, &binds).await? > 0)
    }

    async fn attached_policies(&self, kind: PrincipalKind, principal: &str) -> Result<Vec<String>> {
        self.strings(
            "SELECT policy_arn FROM iam_attachments WHERE kind = $1 AND principal_key = $2
             ORDER BY policy_arn",
            &[kind.as_str(), &fold(principal)],
        )
        .await
    }

    async fn policy_attachment_count(&self, arn: &str) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = $1")
            .bind(arn)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(r.get(0))
    }

    async fn add_group_member(&self, group: &str, user: &str) -> Result<()> {
        let sql = "INSERT INTO iam_group_members (group_key, user_key, group_name, user_name)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
        let (group_key, user_key) = (fold(group), fold(user));
        let binds = [
            Bind::Text(&group_key),
            Bind::Text(&user_key),
            Bind::Text(group),
            Bind::Text(user),
        ];
        self.execute(sql, &binds).await.map(|_| ())
    }

    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool> {
        let sql = "DELETE FROM iam_group_members WHERE group_key = $1 AND user_key = $2";
        let (group_key, user_key) = (fold(group), fold(user));
        Ok(self
            .execute(sql, &[Bind::Text(&group_key), Bind::Text(&user_key)])
            .await?
            > 0)
    }

    async fn group_members(&self, group: &str) -> Result<Vec<String>> {
        self.strings(
            "SELECT user_name FROM iam_group_members WHERE group_key = $1 ORDER BY user_key",
            &[&fold(group)],
        )
        .await
    }

    async fn user_groups(&self, user: &str) -> Result<Vec<String>> {
        self.strings(
            "SELECT group_name FROM iam_group_members WHERE user_key = $1 ORDER BY group_key",
            &[&fold(user)],
        )
        .await
    }
}
