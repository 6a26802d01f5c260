-- Which pipeline's source action watches which location (an S3 object `bucket/key`, a hosted
-- repository, `Owner/Repo`, a connection's repository), kept with every create, update and
-- delete, so a change finds its pipelines without reading every pipeline. Filled for existing
-- pipelines when this migration is applied (`SqliteStore::open`).
CREATE TABLE source_index (
    provider TEXT NOT NULL,
    location TEXT NOT NULL,
    pipeline TEXT NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    action TEXT NOT NULL,
    PRIMARY KEY (provider, location, pipeline, action)
);
CREATE INDEX source_index_by_pipeline ON source_index (pipeline);
-- Present until the index has been filled for the pipelines that existed before it; the fill
-- and the removal of this row are one transaction, so a crash in between fills it again.
CREATE TABLE source_index_backfill (pending INTEGER NOT NULL);
INSERT INTO source_index_backfill (pending) VALUES (1);
