-- No longer used: PostgreSQL's write probe (data/postgres/probe.go) now runs
-- an UPDATE of sessions that matches no row and writes nothing, because the
-- committed overwrite of this row grew the table while old snapshots were
-- held. The migration stays, unchanged but for this comment, because it was
-- released on main and migrations are append-only; a later one may drop it.
--
-- One row that the login server's /healthz overwrites to prove the database
-- takes writes (data.WriteProber): with default_transaction_read_only=on
-- (ALTER DATABASE/ROLE, or on a standby) PostgreSQL answers reads but refuses
-- every login and touch. The CHECK keeps it one row; probed_at is not
-- indexed, so each probe is a HOT update that page pruning reclaims and the
-- table stays one page.
CREATE TABLE health_probe (
    id        smallint    PRIMARY KEY CHECK (id = 1),
    probed_at timestamptz NOT NULL
);
INSERT INTO health_probe (id, probed_at) VALUES (1, now());
