package security_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"go/parser"
	"go/token"
	"math/bits"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"

	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// TestTokensCarryAtLeast128BitsFromCryptoRand: every session cookie a login
// hands out decodes to at least 16 random bytes, all distinct, with balanced
// bits; and the package that mints them reads crypto/rand, never math/rand.
// (sessionlogic/token_test.go checks NewToken itself; this checks the
// cookies the server actually sends.)
func TestTokensCarryAtLeast128BitsFromCryptoRand(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		const logins = 16
		seen := map[string]bool{}
		ones, total := 0, 0
		for i := range logins {
			tok := e.Login(alice, alicePassword)
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				t.Fatalf("login %d: token %q is not unpadded base64url: %v", i, tok, err)
			}
			if len(raw) < 16 {
				t.Fatalf("login %d: token %q carries %d bits, want at least 128", i, tok, 8*len(raw))
			}
			if seen[tok] {
				t.Fatalf("login %d: token %q was handed out before", i, tok)
			}
			seen[tok] = true
			for _, c := range raw {
				ones += bits.OnesCount8(c)
			}
			total += 8 * len(raw)
		}
		// Random bits are ones about half the time: 4096 bits give a standard
		// deviation of 32, so 45%..55% is more than six of them either way.
		if frac := float64(ones) / float64(total); frac < 0.45 || frac > 0.55 {
			t.Errorf("tokens have %.1f%% one bits over %d bits; want about 50%%", 100*frac, total)
		}
	})
}

// TestTokensComeFromCryptoRand: the session cookie a login hands out is
// drawn from crypto/rand, whatever file or function mints it. No black-box
// test can tell a CSPRNG's output from a good PRNG's, so the test takes
// control of crypto/rand instead (testing/cryptotest.SetGlobalRandom makes
// its global source, rand.Read included, a seeded deterministic stream):
//
//   - the same seed gives the same cookie on two servers over two stores:
//     nothing but crypto/rand's stream feeds the token (not the clock, not a
//     counter, not math/rand, which is seeded at random per process);
//   - another seed gives another cookie: the token really depends on that
//     stream and is not a constant.
//
// A token drawn from math/rand, from time or from a hash of the username
// fails the first check; a fixed or cached token fails the second. The
// login goes through the real handler, so a second minter beside
// sessionlogic.NewToken cannot slip past. It cannot run in parallel
// (SetGlobalRandom refuses to), and uses SQLite only: pgtest itself draws
// from crypto/rand to name schemas.
//
// As a second line, no file of sessionlogic imports math/rand (by import,
// not by file name).
func TestTokensComeFromCryptoRand(t *testing.T) {
	sqliteOnly := backend{"sqlite", openSQLite}
	one, two := newEnv(t, sqliteOnly, envOpts{}), newEnv(t, sqliteOnly, envOpts{})

	cryptotest.SetGlobalRandom(t, 1)
	a := one.Login(alice, alicePassword)
	cryptotest.SetGlobalRandom(t, 1)
	b := two.Login(alice, alicePassword)
	cryptotest.SetGlobalRandom(t, 2)
	c := one.Login(alice, alicePassword)

	if a != b {
		t.Errorf("with crypto/rand seeded alike, two servers minted %q and %q: the token is not (only) drawn from crypto/rand", a, b)
	}
	if a == c {
		t.Errorf("with crypto/rand seeded differently, the token stayed %q: it does not come from crypto/rand", a)
	}

	files, err := filepath.Glob(filepath.Join("..", "..", "sessionlogic", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources of sessionlogic: %v", err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "math/rand" || p == "math/rand/v2" {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}

// TestSessionsTableCannotBeReplayedAsCookies: only the token's hash is
// stored. A full copy of the sessions table (read with SQL, behind the
// application's back) gives an attacker nothing: every value of every
// column of every row, sent as the session cookie, is refused (401); so is
// each session id re-encoded in the token alphabet. The live tokens
// themselves appear nowhere in the sessions or audit tables.
func TestSessionsTableCannotBeReplayedAsCookies(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, envOpts{})
		ctx := context.Background()
		// Sessions in every state: live, logged out, forced out, replaced.
		live := []string{e.Login(alice, alicePassword), e.Login(bob, bobPassword)}
		loggedOut := e.Login(alice, alicePassword)
		testkit.WantStatus(t, "logout", e.Do("POST", "/logout", url.Values{}, e.Sess(loggedOut)), http.StatusSeeOther)
		forced := e.Login(bob, bobPassword)
		if _, err := e.mgr.ForceLogout(ctx, "oncall", sessionlogic.HashToken(forced)); err != nil {
			t.Fatal(err)
		}
		replaced := e.Login(alice, alicePassword)
		live = append(live, e.Login(alice, alicePassword, e.Sess(replaced)))
		tokens := append([]string{loggedOut, forced, replaced}, live...)

		cols, rows := e.raw.rows(t, "SELECT * FROM sessions")
		if len(rows) != len(tokens) {
			t.Fatalf("sessions table has %d rows, want %d", len(rows), len(tokens))
		}
		idCol := -1
		for i, c := range cols {
			if c == "id" {
				idCol = i
			}
		}
		if idCol < 0 {
			t.Fatalf("sessions table has no id column: %v", cols)
		}

		// Only the hash is stored: the ids are exactly the tokens' SHA-256,
		// and no token appears in any column of any row.
		ids := map[string]bool{}
		for _, row := range rows {
			if row[idCol] != nil {
				ids[*row[idCol]] = true
			}
			for i, v := range row {
				for _, tok := range tokens {
					if v != nil && strings.Contains(*v, tok) {
						t.Errorf("column %s holds a live token", cols[i])
					}
				}
			}
		}
		for _, tok := range tokens {
			if !ids[sessionlogic.HashToken(tok)] {
				t.Errorf("no row has id = SHA-256(token)")
			}
		}
		_, audit := e.raw.rows(t, "SELECT * FROM audit")
		for _, row := range audit {
			for _, v := range row {
				for _, tok := range tokens {
					if v != nil && strings.Contains(*v, tok) {
						t.Errorf("the audit table holds a token: %q", *v)
					}
				}
			}
		}

		// Replay: every stored value, and every id re-encoded as a token.
		tried := map[string]bool{}
		try := func(what, v string) {
			if tried[v] || !sendable(v) {
				return // a browser could not send it as one cookie either
			}
			tried[v] = true
			e.refusedAPI(what, v)
		}
		for r, row := range rows {
			for i, v := range row {
				if v != nil {
					try("row "+strconv.Itoa(r)+" column "+cols[i], *v)
				}
			}
			if id := row[idCol]; id != nil {
				if raw, err := hex.DecodeString(*id); err == nil {
					try("row "+strconv.Itoa(r)+" id as base64url", base64.RawURLEncoding.EncodeToString(raw))
				}
			}
		}
		if len(tried) < 2*len(rows) { // at least each id and its re-encoding
			t.Errorf("tried only %d distinct values from %d rows", len(tried), len(rows))
		}
		t.Logf("%d distinct stored values tried as cookies, all refused", len(tried))

		// The live tokens (which the attacker does not have) still work, so
		// the refusals above are not a broken server.
		for _, tok := range live {
			e.accepted("live session", tok)
		}
	})
}

// sendable reports whether v can travel as one cookie value in a Cookie
// header: no control characters (the client refuses them) and no ';'
// (which would start another cookie).
func sendable(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f || c == ';' {
			return false
		}
	}
	return v != ""
}
