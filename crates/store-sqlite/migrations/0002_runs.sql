-- Executions, jobs, timers, the outbox: what engine steps write.
CREATE TABLE runtimes (
    pipeline TEXT PRIMARY KEY NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    rev INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE executions (
    pipeline TEXT NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (pipeline, execution_id)
);
CREATE INDEX executions_newest_first ON executions (pipeline, started_ms DESC, execution_id DESC);
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY NOT NULL,
    pipeline TEXT NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    execution_id TEXT NOT NULL,
    category TEXT NOT NULL,
    owner TEXT NOT NULL,
    provider TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    nonce TEXT,
    data TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX jobs_queued_by_type ON jobs (category, owner, provider, version, status, created_ms);
CREATE TABLE timers (
    pipeline TEXT NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    key TEXT NOT NULL,
    due_ms INTEGER NOT NULL,
    PRIMARY KEY (pipeline, key)
);
CREATE INDEX timers_by_due ON timers (due_ms);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE request_tokens (
    pipeline TEXT NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,
    token TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    PRIMARY KEY (pipeline, token)
);
