//! IAM identities and policies.

use crate::{backend, write_ops::db, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use sluice_store::from_row::{self, POLICY_COLUMNS, PRINCIPAL_COLUMNS};
use sluice_store::{Error, IamStore, ManagedPolicyRecord, PrincipalKind, PrincipalRecord, Result};
use sqlx::Row;

impl SqliteStore {
    async fn strings(&self, sql: &str, binds: &[&str]) -> Result<Vec<String>> {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        let rows = q.fetch_all(&self.reader).await.map_err(backend)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn changed(&self, sql: &'static str, binds: Vec<String>) -> Result<bool> {
        self.write(move |c| {
            Ok(c.execute(sql, rusqlite::params_from_iter(binds.iter()))
                .map_err(db)?
                > 0)
        })
        .await
    }
}

#[async_trait]
impl IamStore for SqliteStore {
    async fn create_principal(&self, p: &PrincipalRecord) -> Result<()> {
        let p = p.clone();
        self.write(move |c| {
            let exists = c
                .query_row(
                    "SELECT 1 FROM iam_principals WHERE kind = ? AND name = ?",
                    [p.kind.as_str(), &p.name],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db)?
                .is_some();
            if exists {
                return Err(Error::AlreadyExists(p.name.clone()));
            }
            c.execute(
                &format!("INSERT INTO iam_principals ({PRINCIPAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                params![p.kind.as_str(), p.name, p.id, p.arn, p.path, p.created_ms, p.trust_policy, p.description],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn principal(&self, kind: PrincipalKind, name: &str) -> Result<Option<PrincipalRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM iam_principals WHERE kind = ? AND name = ?"
        ))
        .bind(kind.as_str())
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::principal))
    }

    async fn list_principals(&self, kind: PrincipalKind) -> Result<Vec<PrincipalRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM iam_principals WHERE kind = ? ORDER BY name"
        ))
        .bind(kind.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::principal).collect())
    }

    async fn delete_principal(&self, kind: PrincipalKind, name: &str) -> Result<bool> {
        self.changed(
            "DELETE FROM iam_principals WHERE kind = ? AND name = ?",
            vec![kind.as_str().into(), name.into()],
        )
        .await
    }

    async fn set_trust_policy(&self, role: &str, document: &str) -> Result<bool> {
        self.changed(
            "UPDATE iam_principals SET trust_policy = ? WHERE kind = 'role' AND name = ?",
            vec![document.into(), role.into()],
        )
        .await
    }

    async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
        document: &str,
    ) -> Result<()> {
        self.changed(
            "INSERT INTO iam_inline_policies (kind, principal, name, document) VALUES (?, ?, ?, ?)
             ON CONFLICT (kind, principal, name) DO UPDATE SET document = excluded.document",
            vec![
                kind.as_str().into(),
                principal.into(),
                name.into(),
                document.into(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
    ) -> Result<bool> {
        self.changed(
            "DELETE FROM iam_inline_policies WHERE kind = ? AND principal = ? AND name = ?",
            vec![kind.as_str().into(), principal.into(), name.into()],
        )
        .await
    }

    async fn inline_policies(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT name, document FROM iam_inline_policies WHERE kind = ? AND principal = ? ORDER BY name",
        )
        .bind(kind.as_str())
        .bind(principal)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn create_managed_policy(&self, p: &ManagedPolicyRecord) -> Result<()> {
        let p = p.clone();
        self.write(move |c| {
            let exists = c
                .query_row("SELECT 1 FROM iam_policies WHERE arn = ?", [&p.arn], |_| {
                    Ok(())
                })
                .optional()
                .map_err(db)?
                .is_some();
            if exists {
                return Err(Error::AlreadyExists(p.arn.clone()));
            }
            c.execute(
                &format!(
                    "INSERT INTO iam_policies ({POLICY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                params![
                    p.arn,
                    p.name,
                    p.id,
                    p.path,
                    p.description,
                    p.document,
                    p.created_ms,
                    p.updated_ms
                ],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicyRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM iam_policies WHERE arn = ?"
        ))
        .bind(arn)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(r.as_ref().map(from_row::managed_policy))
    }

    async fn list_managed_policies(&self) -> Result<Vec<ManagedPolicyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM iam_policies ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(from_row::managed_policy).collect())
    }

    async fn delete_managed_policy(&self, arn: &str) -> Result<bool> {
        self.changed("DELETE FROM iam_policies WHERE arn = ?", vec![arn.into()])
            .await
    }

    async fn attach_policy(&self, kind: PrincipalKind, principal: &str, arn: &str) -> Result<()> {
        self.changed(
            "INSERT INTO iam_attachments (kind, principal, policy_arn) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            vec![kind.as_str().into(), principal.into(), arn.into()],
        )
        .await
        .map(|_| ())
    }

    async fn detach_policy(&self, kind: PrincipalKind, principal: &str, arn: &str) -> Result<bool> {
        self.changed(
            "DELETE FROM iam_attachments WHERE kind = ? AND principal = ? AND policy_arn = ?",
            vec![kind.as_str().into(), principal.into(), arn.into()],
        )
        .await
    }

    async fn attached_policies(&self, kind: PrincipalKind, principal: &str) -> Result<Vec<String>> {
        self.strings(
            "SELECT policy_arn FROM iam_attachments WHERE kind = ? AND principal = ? ORDER BY policy_arn",
            &[kind.as_str(), principal],
        )
        .await
    }

    async fn policy_attachment_count(&self, arn: &str) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = ?")
            .bind(arn)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(r.get(0))
    }

    async fn add_group_member(&self, group: &str, user: &str) -> Result<()> {
        self.changed(
            "INSERT INTO iam_group_members (group_name, user_name) VALUES (?, ?) ON CONFLICT DO NOTHING",
            vec![group.into(), user.into()],
        )
        .await
        .map(|_| ())
    }

    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool> {
        self.changed(
            "DELETE FROM iam_group_members WHERE group_name = ? AND user_name = ?",
            vec![group.into(), user.into()],
        )
        .await
    }

    async fn group_members(&self, group: &str) -> Result<Vec<String>> {
        self.strings(
            "SELECT user_name FROM iam_group_members WHERE group_name = ? ORDER BY user_name",
            &[group],
        )
        .await
    }

    async fn user_groups(&self, user: &str) -> Result<Vec<String>> {
        self.strings(
            "SELECT group_name FROM iam_group_members WHERE user_name = ? ORDER BY group_name",
            &[user],
        )
        .await
    }
}
