-- The whole schema as of SQLite's migration 18, in PostgreSQL's types. Text that is compared
-- or ordered uses the "C" collation, so names sort byte-wise as on SQLite and a page that
-- starts after a name continues exactly where the previous one stopped.

CREATE TABLE pipelines (
    name TEXT COLLATE "C" PRIMARY KEY,
    arn TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    execution_mode TEXT,
    pipeline_type TEXT
);
CREATE TABLE pipeline_versions (
    name TEXT COLLATE "C" NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    declaration TEXT NOT NULL,
    written_ms BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE transitions (
    pipeline TEXT COLLATE "C" NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    stage TEXT COLLATE "C" NOT NULL,
    direction TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    reason TEXT,
    changed_by TEXT NOT NULL,
    changed_ms BIGINT NOT NULL,
    PRIMARY KEY (pipeline, stage, direction)
);
CREATE TABLE action_types (
    category TEXT COLLATE "C" NOT NULL,
    owner TEXT COLLATE "C" NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    version TEXT COLLATE "C" NOT NULL,
    definition TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (category, owner, provider, version)
);
CREATE TABLE tags (
    resource_arn TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key)
);
CREATE TABLE access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    secret_access_key TEXT NOT NULL,
    principal_arn TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'Active'
);
CREATE INDEX access_keys_principal ON access_keys (principal_arn);

CREATE TABLE runtimes (
    pipeline TEXT COLLATE "C" PRIMARY KEY REFERENCES pipelines (name) ON DELETE CASCADE,
    rev BIGINT NOT NULL,
    doc TEXT NOT NULL
);
-- `seq` is the order executions were first recorded in (SQLite's rowid).
CREATE TABLE executions (
    seq BIGSERIAL NOT NULL,
    pipeline TEXT COLLATE "C" NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    execution_id TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (pipeline, execution_id)
);
CREATE INDEX executions_newest_first ON executions (pipeline, started_ms DESC, seq DESC);
CREATE TABLE jobs (
    job_id TEXT COLLATE "C" PRIMARY KEY,
    pipeline TEXT COLLATE "C" NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    execution_id TEXT NOT NULL,
    category TEXT COLLATE "C" NOT NULL,
    owner TEXT COLLATE "C" NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    version TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    nonce TEXT,
    data TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    client_token TEXT,
    interruptions BIGINT NOT NULL DEFAULT 0,
    -- The server whose provider runs the job, and until when unless it renews the lease.
    lease_owner TEXT COLLATE "C",
    lease_until_ms BIGINT
);
CREATE INDEX jobs_by_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_by_lease ON jobs (lease_until_ms) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_open_by_type ON jobs (category, owner, provider, version, created_ms)
    WHERE status IN ('Queued', 'Dispatched');
CREATE INDEX jobs_running_by_type ON jobs (category, owner, provider, version)
    WHERE status IN ('Dispatched', 'InProgress');
CREATE INDEX jobs_finished ON jobs (updated_ms)
    WHERE status IN ('Succeeded', 'Failed', 'TimedOut', 'Cancelled');
CREATE INDEX jobs_by_pipeline ON jobs (pipeline);
CREATE TABLE timers (
    pipeline TEXT COLLATE "C" NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    key TEXT COLLATE "C" NOT NULL,
    due_ms BIGINT NOT NULL,
    PRIMARY KEY (pipeline, key)
);
CREATE INDEX timers_by_due ON timers (due_ms);
CREATE TABLE outbox (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'publish',
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    due_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (due_ms, created_ms, id);
CREATE TABLE request_tokens (
    pipeline TEXT COLLATE "C" NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    token TEXT COLLATE "C" NOT NULL,
    execution_id TEXT NOT NULL,
    PRIMARY KEY (pipeline, token)
);

CREATE TABLE buckets (
    name TEXT COLLATE "C" PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    versioning TEXT,
    encryption_key TEXT
);
-- `seq` orders versions: the highest seq of a key is its latest version.
CREATE TABLE object_versions (
    seq BIGSERIAL PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets (name),
    key TEXT COLLATE "C" NOT NULL,
    version_id TEXT COLLATE "C" NOT NULL,
    blob_key TEXT,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT,
    modified_ms BIGINT NOT NULL,
    encryption TEXT,
    UNIQUE (bucket, key, version_id)
);
CREATE INDEX object_versions_by_key ON object_versions (bucket, key, seq);

CREATE TABLE webhooks (
    name TEXT COLLATE "C" PRIMARY KEY,
    arn TEXT NOT NULL,
    url_id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_triggered_ms BIGINT
);

-- IAM names are unique per kind ignoring (ASCII) case, as in IAM: `name_key` is the folded
-- name every lookup compares, `name` the spelling the principal was created with.
CREATE TABLE iam_principals (
    kind TEXT NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    name_key TEXT COLLATE "C" NOT NULL,
    id TEXT NOT NULL UNIQUE,
    arn TEXT NOT NULL,
    path TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    trust_policy TEXT,
    description TEXT,
    PRIMARY KEY (kind, name_key)
);
CREATE TABLE iam_inline_policies (
    kind TEXT NOT NULL,
    principal_key TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (kind, principal_key, name)
);
CREATE TABLE iam_attachments (
    kind TEXT NOT NULL,
    principal_key TEXT COLLATE "C" NOT NULL,
    policy_arn TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, principal_key, policy_arn)
);
CREATE INDEX iam_attachments_policy ON iam_attachments (policy_arn);
CREATE TABLE iam_group_members (
    group_key TEXT COLLATE "C" NOT NULL,
    user_key TEXT COLLATE "C" NOT NULL,
    group_name TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (group_key, user_key)
);
CREATE INDEX iam_group_members_user ON iam_group_members (user_key);
CREATE TABLE iam_policies (
    arn TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    id TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    description TEXT,
    document TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- The audit trail: append-only, each event chained to the one before by its hash. `seq` is
-- given by the appender from `audit_head`, which every append locks: one chain, one order,
-- however many servers append.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    event_time_ms BIGINT NOT NULL,
    event_name TEXT COLLATE "C" NOT NULL,
    event_source TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C",
    access_key_id TEXT COLLATE "C",
    read_only BOOLEAN NOT NULL,
    resources TEXT NOT NULL,
    document TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time_ms);
CREATE INDEX audit_events_by_name ON audit_events (event_name, seq);
CREATE INDEX audit_events_by_username ON audit_events (username, seq);
CREATE INDEX audit_events_by_source ON audit_events (event_source, seq);
CREATE INDEX audit_events_by_key ON audit_events (access_key_id, seq);
CREATE INDEX audit_events_by_read_only ON audit_events (read_only, seq);
CREATE TABLE audit_resources (
    seq BIGINT NOT NULL REFERENCES audit_events (seq) ON DELETE CASCADE,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (seq, resource_type, resource_name)
);
CREATE INDEX audit_resources_by_type ON audit_resources (resource_type, seq);
CREATE INDEX audit_resources_by_name ON audit_resources (resource_name, seq);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
-- A call recorded before it acts, with the server answering it: only a server that stopped
-- heartbeating (`servers`) has its calls completed as interrupted by another.
CREATE TABLE audit_pending (
    event_id TEXT COLLATE "C" PRIMARY KEY,
    server TEXT COLLATE "C",
    event_time_ms BIGINT NOT NULL,
    event_name TEXT NOT NULL,
    event_source TEXT NOT NULL,
    username TEXT,
    access_key_id TEXT,
    read_only BOOLEAN NOT NULL,
    resources TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE TABLE audit_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    pruned BIGINT NOT NULL,
    mac TEXT NOT NULL
);

CREATE TABLE kms_keys (
    key_id TEXT COLLATE "C" PRIMARY KEY,
    arn TEXT COLLATE "C" NOT NULL UNIQUE,
    alias TEXT COLLATE "C" UNIQUE,
    description TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE kms_key_versions (
    key_id TEXT COLLATE "C" NOT NULL REFERENCES kms_keys (key_id),
    version BIGINT NOT NULL,
    material TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE connections (
    arn TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    provider_type TEXT NOT NULL,
    host_arn TEXT,
    status TEXT NOT NULL,
    url TEXT,
    token TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX connections_by_name ON connections (name);

CREATE TABLE source_index (
    provider TEXT COLLATE "C" NOT NULL,
    location TEXT COLLATE "C" NOT NULL,
    pipeline TEXT COLLATE "C" NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    action TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (provider, location, pipeline, action)
);
CREATE INDEX source_index_by_pipeline ON source_index (pipeline);

CREATE TABLE deploy_resources (
    kind TEXT NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    owner TEXT COLLATE "C",
    PRIMARY KEY (kind, scope, name)
);
CREATE UNIQUE INDEX deploy_resources_by_owner ON deploy_resources (kind, owner)
    WHERE owner IS NOT NULL;
CREATE TABLE deployments (
    id TEXT COLLATE "C" PRIMARY KEY,
    application TEXT COLLATE "C" NOT NULL,
    deployment_group TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    create_ms BIGINT NOT NULL,
    rev BIGINT NOT NULL,
    creator_token TEXT UNIQUE,
    doc TEXT NOT NULL
);
CREATE INDEX deployments_by_group ON deployments (application, deployment_group, create_ms);
CREATE INDEX deployments_by_group_status
    ON deployments (application, deployment_group, status, create_ms);
CREATE TABLE host_commands (
    id TEXT COLLATE "C" PRIMARY KEY,
    host TEXT COLLATE "C" NOT NULL,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    lease_until_ms BIGINT
);
CREATE INDEX host_commands_by_host ON host_commands (host, created_ms);
CREATE INDEX host_commands_by_lease ON host_commands (lease_until_ms)
    WHERE lease_until_ms IS NOT NULL;

CREATE TABLE repositories (
    name TEXT COLLATE "C" PRIMARY KEY,
    id TEXT NOT NULL,
    description TEXT,
    created_ms BIGINT NOT NULL,
    modified_ms BIGINT NOT NULL
);

CREATE TABLE undelivered (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    error TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    failed_ms BIGINT NOT NULL
);
CREATE INDEX undelivered_failed ON undelivered (failed_ms);
CREATE TABLE sns_topics (
    arn TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE sns_subscriptions (
    arn TEXT COLLATE "C" PRIMARY KEY,
    topic_arn TEXT COLLATE "C" NOT NULL,
    token TEXT COLLATE "C",
    doc TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX sns_subscriptions_topic ON sns_subscriptions (topic_arn, created_ms);
CREATE UNIQUE INDEX sns_subscriptions_token ON sns_subscriptions (token) WHERE token IS NOT NULL;
CREATE TABLE event_rules (
    name TEXT COLLATE "C" PRIMARY KEY,
    doc TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE notification_signing_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed TEXT NOT NULL
);

CREATE TABLE functions (
    name TEXT COLLATE "C" PRIMARY KEY,
    revision_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    modified_ms BIGINT NOT NULL
);

-- Which server leads: runs timers, deliveries, polling and sweeps for every server on the
-- database. A lease that lapsed (its server died) is taken over by another server.
-- Every running server's heartbeat (the database's clock).
CREATE TABLE servers (
    id TEXT COLLATE "C" PRIMARY KEY,
    seen_ms BIGINT NOT NULL
);

CREATE TABLE leader_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);

-- A fingerprint of the keys the database's secrets are sealed with (an HMAC under them, not
-- the keys): a server started with other keys is refused instead of sealing with both.
CREATE TABLE key_fingerprint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
);
