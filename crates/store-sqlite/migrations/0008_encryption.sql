-- Artifact encryption: KMS-style keys (each version's material sealed with the master key),
-- a bucket's default key, and each object version's envelope (its wrapped data key).
CREATE TABLE kms_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    arn TEXT NOT NULL UNIQUE,
    alias TEXT UNIQUE,
    description TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE kms_key_versions (
    key_id TEXT NOT NULL REFERENCES kms_keys (key_id),
    version INTEGER NOT NULL,
    material TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (key_id, version)
);

ALTER TABLE buckets ADD COLUMN encryption_key TEXT;
ALTER TABLE object_versions ADD COLUMN encryption TEXT;
