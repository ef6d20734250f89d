package reliability

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"sessionmon/data/postgres"
	"sessionmon/sessionlogic"
)

// outageWindow is one stop/start of PostgreSQL: down from the moment
// "pg_ctl stop -m immediate" returned until "pg_ctl start" was invoked;
// stopping from when the stop was invoked; recovered when the server first
// answered the probe session with 200 again.
type outageWindow struct{ stopping, down, up, recovered time.Time }

// phase names the store's state while r ran: "down" (entirely within the
// outage), "transition" (overlapping a stop, a start or the reconnection),
// or "up".
func phase(r reply, ws []outageWindow) string {
	for _, w := range ws {
		if w.within(r) {
			return "down"
		}
	}
	for _, w := range ws {
		if r.End.After(w.stopping) && r.Start.Before(w.recovered) {
			return "transition"
		}
	}
	return "up"
}

// within reports whether r ran entirely while the store was down.
func (w outageWindow) within(r reply) bool {
	return !r.Start.Before(w.down) && !r.End.After(w.up)
}

// violations collects broken rules from many goroutines.
type violations struct {
	mu   sync.Mutex
	n    int
	list []string
}

func (v *violations) add(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.n++
	if len(v.list) < 30 {
		v.list = append(v.list, fmt.Sprintf(format, args...))
	}
}

func (v *violations) check(t *testing.T, what string) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.n > 0 {
		t.Errorf("%s: %d violations; the first ones:", what, v.n)
		for _, s := range v.list {
			t.Errorf("  %s", s)
		}
	}
}

// TestStoreOutagePostgres stops a private PostgreSQL cluster with
// "pg_ctl -m immediate" while the real login server is under load, and
// starts it again. While it is down every request that needs the store fails
// closed with 503 (JSON for /api/me) within the client's 5 s timeout: never a
// 200 for a session that cannot be checked, never another 5xx, never a lost
// session or a deleted cookie. Once it is back, the same server, never
// restarted, serves the old cookies and new logins again.
func TestStoreOutagePostgres(t *testing.T) {
	pg := startPGCluster(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the server's shutdown, before the cluster's removal
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	watch := &logWatch{}
	log := slog.New(watch)
	// The production default store timeout, so a hung store call would show
	// up as a slow 503 rather than hide behind a generous test setting.
	m := newManager(t, st, log, func(o *sessionlogic.Options) { o.StoreTimeout = 3 * time.Second })
	users := addUsers(t, m, "outage", 5, "user", "admin")
	base := serve(t, m, log)
	const clientTimeout = 5 * time.Second
	client := newClient(16, clientTimeout)

	// A session that must live through every outage, and one logged out
	// before the first, which must stay dead through them.
	probe, r := login(client, base, users[0], "")
	if probe == "" {
		t.Fatalf("login before the outage: %s", r)
	}
	gone, r := login(client, base, users[0], "")
	if gone == "" {
		t.Fatalf("login before the outage: %s", r)
	}
	if r := do(client, http.MethodPost, base, "/logout", nil, gone); r.Status != http.StatusSeeOther {
		t.Fatalf("logout before the outage: %s", r)
	}

	var (
		bad     violations
		mu      sync.Mutex
		replies []reply // every load request, for the per-window check at the end
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad() // also when a check below ends the test early
	record := func(r reply) {
		mu.Lock()
		replies = append(replies, r)
		mu.Unlock()
	}
	// Rules every answer obeys whatever the store's state.
	checkReply := func(r reply, haveSession bool) {
		switch {
		case r.Err != nil:
			bad.add("%s: transport error or timeout (client timeout %s)", r, clientTimeout)
			return
		case r.Status >= 500 && r.Status != http.StatusServiceUnavailable:
			bad.add("%s: a 5xx other than 503", r)
		case r.Status == http.StatusServiceUnavailable && clearsCookie(r):
			bad.add("%s: a 503 deleted the session cookie", r)
		case haveSession && (r.Status == http.StatusFound || r.Status == http.StatusUnauthorized):
			bad.add("%s: a valid session was refused (lost)", r)
		}
		if r.Path == "/api/me" && r.Status != http.StatusOK {
			if err := jsonError(r); err != nil {
				bad.add("%s: %v", r, err)
			}
		}
	}

	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := users[1+w%(len(users)-1)]
			token := ""
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var r reply
				switch {
				case token == "":
					var tok string
					tok, r = login(client, base, u, "")
					checkReply(r, false)
					if r.Err == nil && r.Status != http.StatusSeeOther && r.Status != http.StatusServiceUnavailable {
						bad.add("%s: login answered neither 303 nor 503", r)
					}
					if r.Status == http.StatusSeeOther && tok == "" {
						bad.add("%s: a 303 login without a session cookie", r)
					}
					token = tok
				case i%9 == 8:
					r = do(client, http.MethodPost, base, "/logout", nil, token)
					checkReply(r, true)
					switch r.Status {
					case http.StatusSeeOther:
						if !clearsCookie(r) {
							bad.add("%s: logout did not delete the cookie", r)
						}
						token = ""
					case http.StatusServiceUnavailable:
						// Still logged in: the server said so and kept the cookie.
					}
				default:
					path := "/api/me"
					if i%2 == 0 {
						path = "/"
					}
					r = do(client, http.MethodGet, base, path, nil, token)
					checkReply(r, true)
					if r.Status == http.StatusOK && path == "/api/me" {
						if got, err := meUser(r); err != nil || got != u.user {
							bad.add("%s: /api/me names %q (%v), want %q", r, got, err, u.user)
						}
					}
				}
				record(r)
				if r.Status == http.StatusServiceUnavailable {
					time.Sleep(20 * time.Millisecond) // a client honouring Retry-After, a little
				}
			}
		}()
	}

	cycles := pick(1, 3)
	downFor := pick(3*time.Second, 15*time.Second)
	upFor := pick(1500*time.Millisecond, 5*time.Second)
	var windows []outageWindow
	time.Sleep(upFor)
	for cycle := range cycles {
		stopping := time.Now()
		pg.stopImmediate()
		w := outageWindow{stopping: stopping, down: time.Now()}

		// Direct probes while it is down: each answers 503 in time.
		probeDown := func(method, path string, token string, wantJSON bool) {
			t.Helper()
			var r reply
			if path == "/login" {
				_, r = login(client, base, users[0], "")
			} else {
				r = do(client, method, base, path, nil, token)
			}
			switch {
			case r.Err != nil:
				t.Errorf("cycle %d, store down: %s", cycle, r)
			case r.Status != http.StatusServiceUnavailable:
				t.Errorf("cycle %d, store down: %s: want 503", cycle, r)
			case r.Header.Get("Retry-After") == "":
				t.Errorf("cycle %d, store down: %s: no Retry-After", cycle, r)
			}
			if wantJSON && r.Err == nil {
				if err := jsonError(r); err != nil {
					t.Errorf("cycle %d, store down: %s: %v", cycle, r, err)
				}
			}
			if r.Err == nil && clearsCookie(r) {
				t.Errorf("cycle %d, store down: %s: the session cookie was deleted", cycle, r)
			}
		}
		probeDown(http.MethodGet, "/api/me", probe, true)
		probeDown(http.MethodGet, "/", probe, false)
		probeDown(http.MethodGet, "/healthz", "", true)
		probeDown(http.MethodPost, "/login", "", false)
		probeDown(http.MethodPost, "/logout", probe, false) // fails closed: still logged in
		// The session logged out before the outage cannot be checked either:
		// 503, not a 200, and not a redirect that would delete the cookie.
		probeDown(http.MethodGet, "/api/me", gone, true)

		time.Sleep(time.Until(w.down.Add(downFor)))
		w.up = time.Now()
		pg.start()

		// Recovery, without restarting the server: the old cookie works again.
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := do(client, http.MethodGet, base, "/api/me", nil, probe)
			if r.Status == http.StatusOK {
				w.recovered = time.Now()
				windows = append(windows, w)
				t.Logf("cycle %d: store back after %s down; server recovered %s after the start",
					cycle, w.up.Sub(w.down).Round(time.Millisecond), time.Since(w.up).Round(time.Millisecond))
				break
			}
			if r.Err != nil || (r.Status != http.StatusServiceUnavailable) || time.Now().After(deadline) {
				t.Fatalf("cycle %d: the server did not recover within 30s of PostgreSQL's start: %s", cycle, r)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// New logins work, and so does the new session.
		tok, r := login(client, base, users[0], "")
		if tok == "" {
			t.Fatalf("cycle %d: login after recovery: %s", cycle, r)
		}
		if r := do(client, http.MethodGet, base, "/api/me", nil, tok); r.Status != http.StatusOK {
			t.Fatalf("cycle %d: new session after recovery: %s", cycle, r)
		}
		if r := do(client, http.MethodGet, base, "/", nil, tok); r.Status != http.StatusOK {
			t.Fatalf("cycle %d: new session after recovery: %s", cycle, r)
		}
		time.Sleep(upFor)
	}
	stopLoad()

	// The session logged out before the outages stayed dead.
	if r := do(client, http.MethodGet, base, "/api/me", nil, gone); r.Status != http.StatusUnauthorized {
		t.Errorf("logged-out session after the outages: %s: want 401", r)
	}
	if r := do(client, http.MethodGet, base, "/healthz", nil, ""); r.Status != http.StatusOK {
		t.Errorf("/healthz after the outages: %s", r)
	}

	// Per phase: nothing succeeded while the store was down, and the load
	// itself got through after each recovery.
	type tally struct {
		ok, unavailable, other int
		slowest                time.Duration
	}
	phases := map[string]*tally{"down": {}, "transition": {}, "up": {}}
	okAfter := make([]int, len(windows))
	for _, r := range replies {
		name := phase(r, windows)
		if name == "down" && r.Status != http.StatusServiceUnavailable {
			bad.add("%s: answered while PostgreSQL was down (want 503)", r)
		}
		phases[name].slowest = max(phases[name].slowest, r.Latency())
		switch r.Status {
		case http.StatusOK, http.StatusSeeOther:
			phases[name].ok++
		case http.StatusServiceUnavailable:
			phases[name].unavailable++
		default:
			phases[name].other++
		}
		for i, w := range windows {
			if r.Start.After(w.recovered) && (r.Status == http.StatusOK || r.Status == http.StatusSeeOther) {
				okAfter[i]++
			}
		}
	}
	bad.check(t, "load through the outage")
	for i, n := range okAfter {
		if n == 0 {
			t.Errorf("cycle %d: no load request succeeded after PostgreSQL came back", i)
		}
	}
	if n := watch.panics.Load(); n > 0 {
		t.Errorf("%d panics logged:\n%s", n, watch)
	}
	for _, name := range []string{"up", "transition", "down"} {
		p := phases[name]
		t.Logf("load requests with the store %-10s: %4d ok, %4d 503, %d other; slowest %s",
			name, p.ok, p.unavailable, p.other, p.slowest.Round(time.Millisecond))
	}
}
