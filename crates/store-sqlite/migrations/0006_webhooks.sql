-- Webhooks: the definition is the service's JSON document; url_id is the secret in its URL.
CREATE TABLE webhooks (
    name TEXT PRIMARY KEY NOT NULL,
    arn TEXT NOT NULL,
    url_id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_triggered_ms INTEGER
);
