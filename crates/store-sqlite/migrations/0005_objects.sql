-- Buckets and object versions of the S3-compatible endpoint; the bytes live in the blob store.
CREATE TABLE buckets (
    name TEXT PRIMARY KEY NOT NULL,
    created_ms INTEGER NOT NULL,
    versioning TEXT
);

-- `seq` orders versions: the highest seq of a key is its latest version.
CREATE TABLE object_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL REFERENCES buckets (name),
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    blob_key TEXT,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT,
    modified_ms INTEGER NOT NULL,
    UNIQUE (bucket, key, version_id)
);
CREATE INDEX object_versions_by_key ON object_versions (bucket, key, seq);
