package security_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// TestEveryLoginMintsANewTokenAndNeverAdoptsTheCookieSent: no session
// fixation. A cookie value chosen by an attacker (well formed and unknown,
// malformed, or the attacker's own live session planted in the victim's
// browser) is never adopted by a login: the Set-Cookie value differs, and
// the planted value is refused afterwards. Two logins never share a token.
func TestEveryLoginMintsANewTokenAndNeverAdoptsTheCookieSent(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		first, second := e.Login(alice, alicePassword), e.Login(alice, alicePassword)
		if first == second {
			t.Fatal("two logins got the same token")
		}

		planted := map[string]string{
			"well-formed, unknown":            sessionlogic.NewToken(),
			"malformed":                       "attacker-chosen-value",
			"the attacker's own live session": e.Login(bob, bobPassword),
			"the victim's earlier session":    first,
		}
		for what, value := range planted {
			r := e.PostLogin(alice, alicePassword, e.Sess(value))
			testkit.WantStatus(t, what+": login", r, http.StatusSeeOther)
			c := r.SessionCookie(e.cookie)
			if c == nil || c.Value == "" {
				t.Fatalf("%s: login set no session cookie: %q", what, r.Header.Values("Set-Cookie"))
			}
			if c.Value == value {
				t.Fatalf("%s: login adopted the cookie it was sent", what)
			}
			e.accepted(what+": the new session", c.Value)
			// The planted value opens nothing, not even when it was a live
			// session: the browser's previous session is ended as replaced.
			e.refused(what+": the planted cookie after login", value)
		}
		e.accepted("a session of another browser", second)
	})
}

// TestLogoutEndsTheSessionServerSide: POST /logout redirects to /login and
// deletes the cookie; after it, a copy of the old
// cookie (kept by an attacker, or a browser that ignored the deletion) is
// refused everywhere: pages redirect to /login (302), /api/me answers 401.
func TestLogoutEndsTheSessionServerSide(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		tok := e.Login(alice, alicePassword)
		other := e.Login(alice, alicePassword)
		e.accepted("before logout", tok)

		r := e.Do("POST", "/logout", url.Values{}, e.Sess(tok))
		testkit.WantStatus(t, "POST /logout", r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/login" {
			t.Errorf("POST /logout: Location = %q, want /login", loc)
		}
		if c := r.SessionCookie(e.cookie); c == nil || c.Value != "" || c.MaxAge >= 0 {
			t.Errorf("logout did not delete the cookie: %q", r.Header.Values("Set-Cookie"))
		}
		testkit.WantDeletionCookie(t, "POST /logout", r, e.cookie)
		e.refused("after logout", tok)
		// A browser that kept the old cookie is sent to log in, back to where
		// it was, and told again to delete the cookie.
		page := e.Do("GET", "/", nil, e.Sess(tok))
		if loc := page.Header.Get("Location"); loc != "/login?next=%2F" {
			t.Errorf("GET / with the old cookie: Location = %q, want /login?next=%%2F", loc)
		}
		testkit.WantDeletionCookie(t, "GET / with the old cookie", page, e.cookie)
		s, err := e.mgr.Session(context.Background(), sessionlogic.HashToken(tok))
		if err != nil || s.EndedAt.IsZero() || s.EndReason != "logout" {
			t.Errorf("after logout the row is %+v (err %v), want ended with reason logout", s, err)
		}
		e.accepted("the user's other session", other)

		// Logging in again with the ended cookie works, with a new token.
		if again := e.Login(alice, alicePassword, e.Sess(tok)); again == tok {
			t.Error("login revived the logged-out token")
		}
	})
}

// TestForceLogoutEndsTheSessionServerSide: Manager.ForceLogout (the
// operator's command) ends that one session at once; the holder's next
// request is refused on pages and on the API. The user's other sessions live.
func TestForceLogoutEndsTheSessionServerSide(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		tok := e.Login(alice, alicePassword)
		other := e.Login(alice, alicePassword)
		e.accepted("before force-logout", tok)

		if _, err := e.mgr.ForceLogout(context.Background(), "oncall", sessionlogic.HashToken(tok)); err != nil {
			t.Fatal(err)
		}
		e.refused("after force-logout", tok)
		e.accepted("the user's other session", other)
	})
}

// TestForceLogoutUserEndsEverySessionServerSide: Manager.ForceLogoutUser
// ends every session of the user, and only theirs.
func TestForceLogoutUserEndsEverySessionServerSide(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		toks := []string{e.Login(alice, alicePassword), e.Login(alice, alicePassword), e.Login(alice, alicePassword)}
		bobs := e.Login(bob, bobPassword)

		n, err := e.mgr.ForceLogoutUser(context.Background(), "oncall", alice)
		if err != nil || n != len(toks) {
			t.Fatalf("ForceLogoutUser = %d, %v; want %d", n, err, len(toks))
		}
		for _, tok := range toks {
			e.refused("after force-logout-user", tok)
		}
		e.accepted("another user's session", bobs)
		// Force-logout is not a ban: alice can log in again.
		e.accepted("a new login", e.Login(alice, alicePassword))
	})
}

// TestDeactivatingAUserEndsAllTheirSessions: Manager.Deactivate ends every
// session of the user in the same transaction (their cookies are refused
// at once) and refuses their logins; other users are untouched.
func TestDeactivatingAUserEndsAllTheirSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		toks := []string{e.Login(alice, alicePassword), e.Login(alice, alicePassword), e.Login(alice, alicePassword)}
		bobs := e.Login(bob, bobPassword)

		n, err := e.mgr.Deactivate(context.Background(), "oncall", alice)
		if err != nil || n != len(toks) {
			t.Fatalf("Deactivate = %d, %v; want %d", n, err, len(toks))
		}
		for _, tok := range toks {
			e.refused("session of a deactivated user", tok)
		}
		r := e.PostLogin(alice, alicePassword)
		testkit.WantStatus(t, "login of a deactivated user", r, http.StatusForbidden)
		if c := r.SessionCookie(e.cookie); c != nil {
			t.Errorf("a deactivated user's login set a cookie: %v", c)
		}
		e.accepted("another user's session", bobs)

		// Reactivation does not revive the ended sessions.
		if err := e.mgr.Activate(context.Background(), "oncall", alice); err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			e.refused("after reactivation", tok)
		}
	})
}
