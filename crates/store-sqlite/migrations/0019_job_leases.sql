-- A built-in job a server's provider runs names that server and holds a lease the server
-- renews; a job whose lease lapsed (its server died) is queued again by the server that leads.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until_ms INTEGER;
CREATE INDEX jobs_by_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_by_lease ON jobs (lease_until_ms) WHERE lease_owner IS NOT NULL;
