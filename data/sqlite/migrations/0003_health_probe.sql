-- One row that the login server's /healthz overwrites to prove the file
-- takes writes (data.WriteProber): a read-only file or a full disk answers
-- reads but refuses every login and touch. The CHECK keeps it one row, so
-- probing never grows the database.
CREATE TABLE health_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at INTEGER NOT NULL -- unix microseconds, UTC
) STRICT;
INSERT INTO health_probe (id, probed_at) VALUES (1, 0);
