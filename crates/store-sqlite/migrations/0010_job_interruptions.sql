-- How many restarts in a row found the job running: a job that kills the server it runs on
-- is failed after a few, instead of being queued again forever.
ALTER TABLE jobs ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
