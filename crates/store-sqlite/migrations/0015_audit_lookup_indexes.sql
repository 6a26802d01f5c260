-- LookupEvents by any attribute reads only the events it answers with: an index per attribute
-- ordered by `seq` (newest first is a reverse range), and each event's resources as rows.
CREATE INDEX audit_events_by_name ON audit_events (event_name, seq);
CREATE INDEX audit_events_by_username ON audit_events (username, seq);
CREATE INDEX audit_events_by_source ON audit_events (event_source, seq);
CREATE INDEX audit_events_by_key ON audit_events (access_key_id, seq);
CREATE INDEX audit_events_by_read_only ON audit_events (read_only, seq);

CREATE TABLE audit_resources (
    seq INTEGER NOT NULL REFERENCES audit_events (seq) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    PRIMARY KEY (seq, resource_type, resource_name)
) WITHOUT ROWID;
CREATE INDEX audit_resources_by_type ON audit_resources (resource_type, seq);
CREATE INDEX audit_resources_by_name ON audit_resources (resource_name, seq);
INSERT OR IGNORE INTO audit_resources (seq, resource_type, resource_name)
    SELECT e.seq, json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]')
    FROM audit_events e, json_each(e.resources) r
    WHERE json_extract(r.value, '$[0]') IS NOT NULL AND json_extract(r.value, '$[1]') IS NOT NULL;
