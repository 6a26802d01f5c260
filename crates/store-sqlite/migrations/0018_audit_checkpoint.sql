-- Where the audit chain starts once its oldest events are pruned: the last pruned event's
-- place and hash, how many were pruned in all, and a MAC under the chain key.
CREATE TABLE audit_checkpoint (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    pruned INTEGER NOT NULL,
    mac TEXT NOT NULL
);
