-- Pipelines: one head row per pipeline, every version kept.
CREATE TABLE pipelines (
    name TEXT PRIMARY KEY NOT NULL,
    arn TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    execution_mode TEXT,
    pipeline_type TEXT
);
CREATE TABLE pipeline_versions (
    name TEXT NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    declaration TEXT NOT NULL,
    written_ms INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE transitions (
    pipeline TEXT NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    direction TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    reason TEXT,
    changed_by TEXT NOT NULL,
    changed_ms INTEGER NOT NULL,
    PRIMARY KEY (pipeline, stage, direction)
);
CREATE TABLE action_types (
    category TEXT NOT NULL,
    owner TEXT NOT NULL,
    provider TEXT NOT NULL,
    version TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (category, owner, provider, version)
);
CREATE TABLE tags (
    resource_arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key)
);
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY NOT NULL,
    secret_access_key TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
