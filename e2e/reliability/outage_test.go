package reliability

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
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

// TestStoreHangPostgres freezes a private PostgreSQL cluster with SIGSTOP:
// its sockets stay open and the kernel still accepts connections, but
// nothing answers, which only timeouts can turn into an answer. Every request
// that needs the store must still get its 503 within the bound the server
// sets (the Manager's store timeout for guarded pages, the server's for login
// and logout, the health check's own), with load running, and the server
// recovers once the database thaws.
func TestStoreHangPostgres(t *testing.T) {
	pg := startPGCluster(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	watch := &logWatch{}
	log := slog.New(watch)
	const storeTimeout = 3 * time.Second // the Manager's default
	m := newManager(t, st, log, func(o *sessionlogic.Options) { o.StoreTimeout = storeTimeout })
	users := addUsers(t, m, "hang", 2)
	base := serve(t, m, log)
	// A client that waits longer than any server bound, so a slow 503 and a
	// hang can be told apart.
	client := newClient(32, 15*time.Second)
	probe, r := login(client, base, users[0], "")
	if probe == "" {
		t.Fatalf("login: %s", r)
	}

	// The bounds the server promises (server/pages.go: storeTimeout 5s for
	// login and logout, healthTimeout 2s), plus slack for a loaded machine.
	const slack = 1500 * time.Millisecond
	bounds := map[string]time.Duration{
		"GET /api/me": storeTimeout, "GET /": storeTimeout,
		"POST /login": 5 * time.Second, "POST /logout": 5 * time.Second,
		"GET /healthz": 2 * time.Second,
	}
	send := func(key string) reply {
		switch key {
		case "POST /login":
			_, r := login(client, base, users[1], "")
			return r
		case "GET /healthz":
			return do(client, http.MethodGet, base, "/healthz", nil, "")
		default:
			method, path, _ := strings.Cut(key, " ")
			return do(client, method, base, path, nil, probe)
		}
	}

	hangFor := pick(7*time.Second, 20*time.Second)
	thaw := pg.freeze()
	frozen := time.Now()
	var (
		bad     violations
		wg      sync.WaitGroup
		mu      sync.Mutex
		slowest = map[string]time.Duration{}
		count   int
	)
	// Each kind of request, several at once, again and again while frozen.
	for key := range bounds {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(frozen) < hangFor-bounds[key]-slack {
					r := send(key)
					mu.Lock()
					slowest[key] = max(slowest[key], r.Latency())
					count++
					mu.Unlock()
					switch {
					case r.Err != nil:
						bad.add("%s: no answer: a hang", r)
						return
					case r.Status != http.StatusServiceUnavailable:
						bad.add("%s: want 503 while the store hangs", r)
					case r.Latency() > bounds[key]+slack:
						bad.add("%s: 503 after %s, beyond the server's bound of %s", r, r.Latency().Round(time.Millisecond), bounds[key])
					}
					if path := strings.TrimPrefix(key, "GET "); (path == "/api/me" || path == "/healthz") && r.Err == nil {
						if err := jsonError(r); err != nil {
							bad.add("%s: %v", r, err)
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	time.Sleep(time.Until(frozen.Add(hangFor)))
	thaw()
	bad.check(t, "requests while the store hangs")
	keys := make([]string, 0, len(slowest))
	for k := range slowest {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("store frozen: %-13s slowest 503 after %s (bound %s)", k, slowest[k].Round(time.Millisecond), bounds[k])
	}
	t.Logf("%d requests answered 503 while the store was frozen for %s", count, hangFor)

	deadline := time.Now().Add(30 * time.Second)
	for {
		r := do(client, http.MethodGet, base, "/api/me", nil, probe)
		if r.Status == http.StatusOK {
			t.Logf("server recovered %s after the thaw", time.Since(frozen.Add(hangFor)).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 30s of the thaw: %s", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if tok, r := login(client, base, users[1], ""); tok == "" {
		t.Errorf("login after the thaw: %s", r)
	}
	if n := watch.panics.Load(); n > 0 {
		t.Errorf("%d panics logged:\n%s", n, watch)
	}
}
