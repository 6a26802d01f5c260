//! The statements of the listings that page from the store, written once for both backends:
//! their SQL is the same, and `QueryBuilder` writes each backend's placeholders.

use crate::{DeploymentQuery, PagePosition};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Appends to `SELECT … FROM deployments` the rest of one `ListDeployments` page: each
/// filter it may carry, the position it starts after (a row value, so an index seeks to it)
/// and the order (newest first by creation, then id) that the backends' indexes hold.
pub fn deployment_page<'a, DB>(
    sql: &mut QueryBuilder<'a, DB>,
    query: &'a DeploymentQuery,
    limit: usize,
) where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
{
    sql.push(" WHERE 1 = 1");
    if let Some(application) = &query.application {
        sql.push(" AND application = ")
            .push_bind(application.as_str());
    }
    if let Some(group) = &query.group {
        sql.push(" AND deployment_group = ")
            .push_bind(group.as_str());
    }
    if !query.statuses.is_empty() {
        sql.push(" AND status IN (");
        let mut statuses = sql.separated(", ");
        for status in &query.statuses {
            statuses.push_bind(status.as_str());
        }
        sql.push(")");
    }
    if let Some(from) = query.created_from_ms {
        sql.push(" AND create_ms >= ").push_bind(from);
    }
    if let Some(to) = query.created_to_ms {
        sql.push(" AND create_ms <= ").push_bind(to);
    }
    if let Some(after) = &query.after {
        sql.push(" AND (create_ms, id) < (")
            .push_bind(after.created_ms)
            .push(", ")
            .push_bind(after.name.as_str())
            .push(")");
    }
    sql.push(" ORDER BY create_ms DESC, id DESC LIMIT ")
        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
}

/// Appends to `SELECT … FROM sns_subscriptions` the rest of one `ListSubscriptions` page (of
/// a topic, or of all): oldest first by creation, then ARN, after `after`.
pub fn subscription_page<'a, DB>(
    sql: &mut QueryBuilder<'a, DB>,
    topic_arn: Option<&'a str>,
    after: Option<&'a PagePosition>,
    limit: usize,
) where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
{
    sql.push(" WHERE 1 = 1");
    if let Some(topic) = topic_arn {
        sql.push(" AND topic_arn = ").push_bind(topic);
    }
    if let Some(after) = after {
        sql.push(" AND (created_ms, arn) > (")
            .push_bind(after.created_ms)
            .push(", ")
            .push_bind(after.name.as_str())
            .push(")");
    }
    sql.push(" ORDER BY created_ms, arn LIMIT ")
        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
}
