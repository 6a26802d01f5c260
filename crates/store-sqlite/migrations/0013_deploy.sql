-- CodeDeploy. Applications, deployment groups, deployment configs, on-premises instances and
-- revisions are documents keyed by kind, scope (the application, for groups and revisions)
-- and name.
CREATE TABLE deploy_resources (
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    -- Who the resource answers to: a registered instance's IAM user ARN (one instance each).
    owner TEXT,
    PRIMARY KEY (kind, scope, name)
);
CREATE UNIQUE INDEX deploy_resources_by_owner ON deploy_resources (kind, owner) WHERE owner IS NOT NULL;

-- A deployment: the scheduler's state as a document, guarded by `rev`.
CREATE TABLE deployments (
    id TEXT PRIMARY KEY NOT NULL,
    application TEXT NOT NULL,
    deployment_group TEXT NOT NULL,
    status TEXT NOT NULL,
    create_ms INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    creator_token TEXT UNIQUE,
    doc TEXT NOT NULL
);
CREATE INDEX deployments_by_group ON deployments (application, deployment_group, create_ms);
CREATE INDEX deployments_by_group_status
    ON deployments (application, deployment_group, status, create_ms);

-- Open host commands: one lifecycle event a host is to run; removed when it reports the end.
CREATE TABLE host_commands (
    id TEXT PRIMARY KEY NOT NULL,
    host TEXT NOT NULL,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    lease_until_ms INTEGER
);
CREATE INDEX host_commands_by_host ON host_commands (host, created_ms);
CREATE INDEX host_commands_by_lease ON host_commands (lease_until_ms)
    WHERE lease_until_ms IS NOT NULL;
