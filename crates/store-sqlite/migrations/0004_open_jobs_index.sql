-- Polling looks only at open jobs; without this index it walks every finished job of the type.
CREATE INDEX jobs_open_by_type ON jobs (category, owner, provider, version, created_ms)
    WHERE status IN ('Queued', 'Dispatched');
