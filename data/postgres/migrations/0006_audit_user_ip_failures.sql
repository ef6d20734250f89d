-- The login throttle counts failed logins for one username from one client
-- IP (the low limit; the username alone has only a high ceiling, so one
-- client cannot lock a user out of every other). This index makes that
-- count, and the lookup of the failure that clears it, one range of
-- (action, username, ip, time), read from the index alone. Without it
-- PostgreSQL walks the window's failures for the username or for the IP
-- (up to a limit's worth of rows, more when replicas race) and reads each
-- row from the table for the other column.
CREATE INDEX audit_action_username_ip_time_idx ON audit (action, username, ip, time);
