-- A finished job keeps the name of the server that ran it, so indexes over every job with a
-- lease owner grew with every built-in job ever run: the lapsed-lease sweep (each second) and
-- each lease renewal read them all (at 100,000 finished jobs, a core's worth of the server's
-- time while idle). These hold only the jobs whose lease still matters.
DROP INDEX jobs_by_lease_owner;
DROP INDEX jobs_by_lease;
CREATE INDEX jobs_by_lease_owner ON jobs (lease_owner)
    WHERE lease_owner IS NOT NULL AND status IN ('Dispatched', 'InProgress');
CREATE INDEX jobs_by_lease ON jobs (lease_until_ms)
    WHERE lease_owner IS NOT NULL AND status IN ('Dispatched', 'InProgress');
