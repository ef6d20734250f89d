-- Notices go to a channel named after the schema ("sessionmon_sessions_" +
-- current_schema()), not one channel for the whole database: two
-- sessionmon installations (or parallel test schemas) sharing a database
-- no longer wake each other's dashboards. Watch LISTENs on the same name.
CREATE OR REPLACE FUNCTION sessionmon_notify(kind text, n bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF n > 0 THEN
        PERFORM pg_notify(left('sessionmon_sessions_' || current_schema(), 63), kind);
    END IF;
    RETURN true;
END
$$;
