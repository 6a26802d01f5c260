-- Hosted repositories shared by replicas: the snapshot every replica brings its copy up to
-- (a sealed bundle in the blob store, described by the service), and the lock a push holds
-- while it turns the latest snapshot into the next one (its owner, until when).
ALTER TABLE repositories ADD COLUMN snapshot TEXT;
ALTER TABLE repositories ADD COLUMN push_owner TEXT COLLATE "C";
ALTER TABLE repositories ADD COLUMN push_until_ms BIGINT;
