-- The hosted repositories as CodeCommit describes them (their commits live in the repository).
CREATE TABLE repositories (
    name TEXT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL,
    description TEXT,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL
);
