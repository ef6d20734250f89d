// Package security holds sessionmon's end-to-end security tests: the OWASP
// Session Management checklist, one test function per guarantee, each run
// against the real login server (server.New over sessionlogic.New, served
// by httptest over loopback HTTP) on both stores, SQLite in a temporary
// directory and PostgreSQL in a fresh schema (internal/pgtest; it skips
// without a server unless SESSIONMON_REQUIRE_PG=1). The Manager's clock is
// fake, so timeouts and throttle windows are checked to the microsecond.
//
// The package has no non-test code beyond this comment.
//
//	Guarantee                                              Test
//	Tokens: >= 128 bits, distinct, balanced                TestTokensCarryAtLeast128BitsFromCryptoRand
//	Tokens come from crypto/rand (seeded, same cookie)     TestTokensComeFromCryptoRand
//	Only a hash is stored; the table cannot be replayed    TestSessionsTableCannotBeReplayedAsCookies
//	New token per login; sent cookie never adopted         TestEveryLoginMintsANewTokenAndNeverAdoptsTheCookieSent
//	Logout ends the session server-side                    TestLogoutEndsTheSessionServerSide
//	Force-logout ends the session server-side              TestForceLogoutEndsTheSessionServerSide
//	Force-logout of a user ends all their sessions         TestForceLogoutUserEndsEverySessionServerSide
//	Idle timeout, to the microsecond                       TestIdleTimeoutEndsTheSessionAtTheRightMoment
//	Absolute timeout, to the microsecond                   TestAbsoluteTimeoutEndsTheSessionAtTheRightMoment
//	Extend never passes the absolute limit                 TestExtendNeverPassesTheAbsoluteLimit
//	Extend never revives an ended session                  TestExtendNeverRevivesAnEndedSession
//	Cookie attributes, development                         TestCookieAttributesInDevelopment
//	Cookie attributes, production (__Host-, Secure)        TestCookieAttributesInProduction
//	Cross-site POSTs to /login and /logout refused         TestCrossSitePostsToLoginAndLogoutAreRefused
//	next cannot redirect off-site                          TestNextCannotRedirectOffSite
//	No user enumeration (answer and timing)                TestNoUserEnumeration
//	One IP cannot lock a user out of another               TestThrottleOneIPCannotLockTheUserOutOfAnother
//	Throttle per username from one IP: 429 + Retry-After   TestThrottlePerUsernameAndIPAnswers429WithRetryAfter
//	Username ceiling stops a many-IP attack                TestThrottlePerUsernameCeilingStopsADistributedAttack
//	A burst of concurrent logins cannot pass the limit     TestThrottleHoldsUnderABurstOverHTTP
//	Throttle per IP: 429 + Retry-After                     TestThrottlePerIPAnswers429WithRetryAfter
//	Retry-After is exact; waiting it is enough             TestThrottleRetryAfterIsExact
//	The throttle cannot lock a user out forever            TestThrottleCannotLockAUserOutForever
//	Deactivating a user ends all their sessions            TestDeactivatingAUserEndsAllTheirSessions
//	Every operator action is audited with its operator     TestEveryOperatorActionIsAuditedWithTheOperatorsName
//	Audit rows cannot be altered or deleted                TestAuditRowsCannotBeAlteredOrDeleted
//	Login form parsing never fails with 500 or a panic     FuzzLoginForm
package security
