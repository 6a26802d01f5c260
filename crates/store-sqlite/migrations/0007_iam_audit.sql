-- IAM: users, groups and roles (names unique per kind, ignoring case, as in IAM), their
-- inline policies, attachments of managed policies, group membership, customer managed
-- policies; access keys gain a status.
CREATE TABLE iam_principals (
    kind TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    id TEXT NOT NULL UNIQUE,
    arn TEXT NOT NULL,
    path TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    trust_policy TEXT,
    description TEXT,
    PRIMARY KEY (kind, name)
);

CREATE TABLE iam_inline_policies (
    kind TEXT NOT NULL,
    principal TEXT NOT NULL COLLATE NOCASE,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (kind, principal, name)
);

CREATE TABLE iam_attachments (
    kind TEXT NOT NULL,
    principal TEXT NOT NULL COLLATE NOCASE,
    policy_arn TEXT NOT NULL,
    PRIMARY KEY (kind, principal, policy_arn)
);
CREATE INDEX iam_attachments_policy ON iam_attachments (policy_arn);

CREATE TABLE iam_group_members (
    group_name TEXT NOT NULL COLLATE NOCASE,
    user_name TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (group_name, user_name)
);
CREATE INDEX iam_group_members_user ON iam_group_members (user_name);

CREATE TABLE iam_policies (
    arn TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    description TEXT,
    document TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);

ALTER TABLE access_keys ADD COLUMN status TEXT NOT NULL DEFAULT 'Active';
CREATE INDEX access_keys_principal ON access_keys (principal_arn);

-- The audit trail: append-only, each event chained to the one before by its hash.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    event_time_ms INTEGER NOT NULL,
    event_name TEXT NOT NULL,
    event_source TEXT NOT NULL,
    username TEXT,
    access_key_id TEXT,
    read_only INTEGER NOT NULL,
    resources TEXT NOT NULL,
    document TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time_ms);
