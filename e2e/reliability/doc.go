// Package reliability holds sessionmon's end-to-end reliability tests (issue
// 5, "Reliability"). They drive the real login server over real TCP, on both
// stores, and check what must survive faults and load:
//
//   - TestStoreOutagePostgres: a private PostgreSQL cluster (never the shared
//     one) is stopped with "pg_ctl -m immediate" under load and started again.
//     While it is down, protected pages answer 503 and /api/me 503 JSON, within
//     the client's timeout; afterwards the same server recovers by itself.
//   - TestStoreHangPostgres: the private cluster is frozen with SIGSTOP (it
//     accepts connections but never answers). Every request that needs the
//     store still gets its 503 within the server's own time bound, and the
//     server recovers after SIGCONT.
//   - TestRevocationRaces: force-logout (one session or all of a user's) races
//     touch, extend and re-login, thousands of times, on SQLite and PostgreSQL.
//     A revoked session never becomes valid again; Stats, listings and
//     ChangesSince stay consistent with what the test knows.
//   - TestLoginRacesUserChange: Manager.Login races a deactivation or a
//     password reset of its user, on SQLite and PostgreSQL. Once both have
//     returned the user has no active session, whatever the interleaving.
//   - TestCrash: the real binary ("sessionmon serve") is killed with SIGKILL in
//     the middle of a load run and restarted, on SQLite and PostgreSQL. Every
//     acknowledged login survives, the SQLite file passes integrity_check, and
//     every session row is whole (its audit entry was written with it).
//   - TestLoad: 64 connections of mixed traffic (login, browse, logout) give
//     zero 5xx and zero connection errors; latency percentiles are logged.
//
// The tests are bounded for CI ("go test -race ./..."). The long variants run
// with SESSIONMON_LONG=1 (or -long when testing only this package), e.g.
//
//	SESSIONMON_LONG=1 go test -run TestLoad -v -timeout 30m ./e2e/reliability/
//
// PostgreSQL tests skip when it is not reachable (or its binaries are missing
// for the outage test) unless SESSIONMON_REQUIRE_PG=1.
package reliability
