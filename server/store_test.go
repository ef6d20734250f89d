package server

import (
	"testing"

	"sessionmon/internal/testkit"
)

// The scenarios that depend on what the store does (sessions, expiry,
// revocation, throttling, outages) run on both stores: SQLite, the embedded
// default, and PostgreSQL, the scale-out store. The rest run on SQLite.
// Login minting a fresh token, logout and force-logout are not here: they
// are e2e/security's, on both stores, with every assertion both had.
var storeScenarios = []struct {
	name string
	run  func(t *testing.T, cfg envConfig)
}{
	{"LoginSetsSessionCookie", scenarioLoginSetsSessionCookie},
	{"AuthenticatedResponsesResendCookie", scenarioAuthenticatedResponsesResendCookie},
	{"LogoutWithoutLiveSession", scenarioLogoutWithoutLiveSession},
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
			sc.run(t, envConfig{open: testkit.Kinds[0].Open})
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
			sc.run(t, envConfig{open: testkit.Kinds[1].Open})
		})
	}
}
