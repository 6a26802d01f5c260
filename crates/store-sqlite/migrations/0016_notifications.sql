-- SNS topics and subscriptions, EventBridge rules, and an outbox that a dispatcher drains:
-- each row has a kind, a count of attempts and the time it is next due.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'publish';
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN due_ms INTEGER NOT NULL DEFAULT 0;
-- Approvals without a NotificationArn used to leave a row addressed to nobody.
DELETE FROM outbox WHERE topic = '';
CREATE INDEX outbox_due ON outbox (due_ms, created_ms);
CREATE TABLE undelivered (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    failed_ms INTEGER NOT NULL
);
CREATE INDEX undelivered_failed ON undelivered (failed_ms);
CREATE TABLE sns_topics (
    arn TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE sns_subscriptions (
    arn TEXT PRIMARY KEY NOT NULL,
    topic_arn TEXT NOT NULL,
    token TEXT,
    doc TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX sns_subscriptions_topic ON sns_subscriptions (topic_arn, created_ms);
CREATE UNIQUE INDEX sns_subscriptions_token ON sns_subscriptions (token) WHERE token IS NOT NULL;
CREATE TABLE event_rules (
    name TEXT PRIMARY KEY NOT NULL,
    doc TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
-- The key SNS signs HTTP deliveries with (and its certificate), sealed with the master key:
-- one per database, so every replica signs alike.
CREATE TABLE notification_signing_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed TEXT NOT NULL
);
