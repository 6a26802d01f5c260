-- Calls that change something are recorded here before they act; the finished event replaces
-- the row in the same transaction that appends it to the chain. Rows left by a crash are
-- appended at the next start, so no change goes unrecorded.
CREATE TABLE audit_pending (
    event_id TEXT PRIMARY KEY NOT NULL,
    event_time_ms INTEGER NOT NULL,
    event_name TEXT NOT NULL,
    event_source TEXT NOT NULL,
    username TEXT,
    access_key_id TEXT,
    read_only INTEGER NOT NULL,
    resources TEXT NOT NULL,
    document TEXT NOT NULL
);
