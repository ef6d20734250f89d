package server

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"

	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/internal/pgtest"
)

// The scenarios that depend on what the store does (sessions, expiry,
// revocation, throttling, outages) run on both stores: SQLite, the embedded
// default, and PostgreSQL, the scale-out store. The rest run on SQLite.
var storeScenarios = []struct {
	name string
	run  func(t *testing.T, cfg envConfig)
}{
	{"LoginSetsSessionCookie", scenarioLoginSetsSessionCookie},
	{"AuthenticatedResponsesResendCookie", scenarioAuthenticatedResponsesResendCookie},
	{"LoginMintsFreshToken", scenarioLoginMintsFreshToken},
	{"Logout", scenarioLogout},
	{"LogoutWithoutLiveSession", scenarioLogoutWithoutLiveSession},
	{"ForceLogout", scenarioForceLogout},
	{"SessionExpires", scenarioSessionExpires},
	{"LoginPageWhenLoggedIn", scenarioLoginPageWhenLoggedIn},
	{"LoginRedirectsToNext", scenarioLoginRedirectsToNext},
	{"InactiveUser", scenarioInactiveUser},
	{"Production", scenarioProduction},
	{"StoreDown", scenarioStoreDown},
	{"Healthz", scenarioHealthz},
	{"Throttle", scenarioThrottle},
}

func TestSessionsSQLite(t *testing.T) {
	t.Parallel()
	for _, sc := range storeScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, envConfig{open: openStore})
		})
	}
}

// TestSessionsPostgres skips when PostgreSQL is unreachable, unless
// SESSIONMON_REQUIRE_PG=1 (CI), which makes that a failure.
func TestSessionsPostgres(t *testing.T) {
	t.Parallel()
	for _, sc := range storeScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, envConfig{open: openPostgres})
		})
	}
}

// openStore opens a fresh SQLite store in t.TempDir(). Its Close is
// registered by the caller (newEnv closes it, once, at the end).
func openStore(t *testing.T) data.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// openPostgres opens a fresh, migrated PostgreSQL schema (pgtest skips the
// test when the server is unreachable, unless SESSIONMON_REQUIRE_PG=1).
func openPostgres(t *testing.T) data.Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	// A small pool: parallel tests must not exhaust the server's connections.
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		q.Set("pool_max_conns", "4")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	st, err := postgres.OpenAndMigrate(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
