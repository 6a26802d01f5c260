-- Connections (CodeStar connections): where a CodeStarSourceConnection source's repositories
-- are. `url` is `hosted` (this server's repositories) or a git base URL; `token` is sealed.
CREATE TABLE connections (
    arn TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    host_arn TEXT,
    status TEXT NOT NULL,
    url TEXT,
    token TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX connections_by_name ON connections (name);
