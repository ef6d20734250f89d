package reliability

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", for integrity_check

	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/internal/pgtest"
	"sessionmon/sessionlogic"
)

// ---- the binary -------------------------------------------------------------------

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// sessionmonBinary builds the sessionmon binary once per test run (without
// -race: the CLI adds users at bcrypt's default cost, which -race makes take
// seconds per login) and returns its path.
func sessionmonBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("the go command is not on PATH: %w", err)
			return
		}
		out, err := exec.Command(goTool, "env", "GOMOD").Output()
		gomod := strings.TrimSpace(string(out))
		if err != nil || gomod == "" || gomod == os.DevNull {
			binErr = fmt.Errorf("go env GOMOD: %q, %v", gomod, err)
			return
		}
		if binDir, err = os.MkdirTemp("", "sessionmon-bin-"); err != nil {
			binErr = err
			return
		}
		path := filepath.Join(binDir, "sessionmon")
		start := time.Now()
		cmd := exec.Command(goTool, "build", "-o", path, ".")
		cmd.Dir = filepath.Dir(gomod)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		t.Logf("built %s in %s", path, time.Since(start).Round(time.Millisecond))
		binPath = path
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func cleanupBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// cleanEnv is the environment for the binary: this one without SESSIONMON_*
// settings, so only the flags the test passes configure it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIONMON_") {
			env = append(env, kv)
		}
	}
	return env
}

// cli runs a short sessionmon command in dir and returns its output.
func cli(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sessionmonBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sessionmon %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serveProc is a running "sessionmon serve".
type serveProc struct {
	cmd     *exec.Cmd
	base    string
	logPath string
	done    chan struct{}
	err     error // from Wait, once done is closed
}

var serveURL = regexp.MustCompile(`msg=serving url=(http://127\.0\.0\.1:\d+)`)

// startServe starts "sessionmon --db db serve" on a free port of 127.0.0.1,
// waits until /healthz answers 200 and returns it. It is killed when the
// test ends, if it still runs.
func startServe(t *testing.T, dir, db string, n int) *serveProc {
	t.Helper()
	p := &serveProc{logPath: filepath.Join(dir, fmt.Sprintf("serve-%d.log", n)), done: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(sessionmonBinary(t), "--db", db, "serve", "--listen", "127.0.0.1:0")
	p.cmd.Dir = dir
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start sessionmon serve: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(p.kill)

	deadline := time.Now().Add(60 * time.Second)
	for p.base == "" {
		if m := serveURL.FindStringSubmatch(p.log()); m != nil {
			p.base = m[1]
			break
		}
		select {
		case <-p.done:
			t.Fatalf("sessionmon serve exited before listening: %v\n%s", p.err, p.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessionmon serve did not log its URL within 60s:\n%s", p.log())
		}
	}
	c := newClient(1, 5*time.Second)
	for {
		r := do(c, http.MethodGet, p.base, "/healthz", nil, "")
		if r.Status == http.StatusOK {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessionmon serve: /healthz not 200 within 60s: %s\n%s", r, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL, as "kill -9" does, and waits for the process to go.
func (p *serveProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate asks for a graceful shutdown (SIGTERM) and returns how it ended.
func (p *serveProc) terminate(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("no exit within %s of SIGTERM", timeout)
	}
}

func (p *serveProc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// checkLog fails on a panic or a data race reported in the server's log.
func (p *serveProc) checkLog(t *testing.T) {
	t.Helper()
	l := p.log()
	for _, bad := range []string{"panic", "DATA RACE", "fatal error"} {
		if strings.Contains(l, bad) {
			t.Errorf("the server's log mentions %q:\n%s", bad, tail(l, 4000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// ---- the test ------------------------------------------------------------------------

// Token states, as far as the client knows.
const (
	tokAlive     = iota // login acknowledged (303 + cookie), no logout sent
	tokLoggedOut        // logout acknowledged (303)
	tokUncertain        // logout sent, answer lost to the crash
)

type tracked struct {
	user  string
	state int
}

// tokenBook is every session token a client was handed.
type tokenBook struct {
	mu sync.Mutex
	m  map[string]*tracked
}

func (b *tokenBook) set(tok, user string, state int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*tracked{}
	}
	b.m[tok] = &tracked{user: user, state: state}
}

func (b *tokenBook) snapshot() map[string]tracked {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]tracked, len(b.m))
	for k, v := range b.m {
		out[k] = *v
	}
	return out
}

// TestCrash kills the real binary ("sessionmon serve") with SIGKILL in the
// middle of a load run, restarts it and checks, on SQLite and PostgreSQL:
//   - every session whose login was acknowledged (303 with a cookie) is
//     still valid (/api/me 200, naming its user); acknowledged logouts stay
//     logged out; a logout whose answer was lost is either done or not,
//     never a 5xx;
//   - the SQLite file, as the crash left it, passes PRAGMA integrity_check
//     and foreign_key_check;
//   - no half-written session: every session row is whole and has exactly
//     one login audit entry, every login audit entry has its row, and every
//     logout has both the ended row and its audit entry (each state change
//     is one transaction, crash or not).
func TestCrash(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			var db string
			if kind == "sqlite" {
				db = filepath.Join(dir, "sessions.db")
			} else {
				db = pgtest.DSN(t)
			}
			// Only migrate, serve and demo create a store.
			cli(t, dir, "", "--db", db, "migrate")
			sessionmonBinary(t)
			runCrash(t, kind, dir, db)
		})
	}
}

func runCrash(t *testing.T, kind, dir, db string) {
	// Users through the CLI, at bcrypt's default cost: few of them.
	users := []cred{{user: "crash0", password: "crash-zero-password"}, {user: "crash1", password: "crash-one-password"}}
	for _, u := range users {
		cli(t, dir, u.password+"\n", "--db", db, "users", "add", u.user, "--password-stdin", "--name", "Crash "+u.user)
	}

	var (
		book    tokenBook
		bad     violations
		cycles  = pick(2, 10)
		loadFor = pick(2*time.Second, 5*time.Second)
	)
	const workers = 8
	client := newClient(workers, 15*time.Second)
	defer client.CloseIdleConnections()

	proc := startServe(t, dir, db, 0)
	for cycle := range cycles {
		var killed atomic.Bool
		var wg sync.WaitGroup
		var acked, requests atomic.Int64
		base := proc.base
		// Sessions that lived through the last crash carry on: each worker
		// resumes one of its user's, if there is one.
		resume := map[string][]string{}
		for tok, tr := range book.snapshot() {
			if tr.state == tokAlive {
				resume[tr.user] = append(resume[tr.user], tok)
			}
		}
		for w := range workers {
			u := users[w%len(users)]
			token := ""
			if l := resume[u.user]; len(l) > 0 {
				token, resume[u.user] = l[0], l[1:]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// fail reports a transport error: expected once the server is
				// being killed (and then the worker stops), a violation before.
				fail := func(r reply) bool {
					if r.Err == nil {
						return false
					}
					if !killed.Load() {
						bad.add("cycle %d, before the kill: %s", cycle, r)
					}
					return true
				}
				for i := 0; !killed.Load(); i++ {
					requests.Add(1)
					switch {
					case token == "":
						tok, r := login(client, base, u, "")
						if fail(r) {
							return
						}
						if r.Status != http.StatusSeeOther || tok == "" {
							bad.add("cycle %d: %s: want 303 with a session cookie", cycle, r)
							continue
						}
						book.set(tok, u.user, tokAlive) // acknowledged
						acked.Add(1)
						token = tok
					case w%2 == 1 && i%15 == 14: // half the workers log out now and then; half keep their sessions
						book.set(token, u.user, tokUncertain) // sent; its answer may be lost
						r := do(client, http.MethodPost, base, "/logout", nil, token)
						if fail(r) {
							return
						}
						if r.Status != http.StatusSeeOther {
							bad.add("cycle %d: %s: want 303", cycle, r)
						}
						book.set(token, u.user, tokLoggedOut)
						token = ""
					default:
						path := "/api/me"
						if i%3 == 0 {
							path = "/"
						}
						r := do(client, http.MethodGet, base, path, nil, token)
						if fail(r) {
							return
						}
						if r.Status != http.StatusOK {
							bad.add("cycle %d: %s: want 200", cycle, r)
						} else if path == "/api/me" {
							if got, err := meUser(r); err != nil || got != u.user {
								bad.add("cycle %d: %s: names %q (%v), want %q", cycle, r, got, err, u.user)
							}
						}
					}
				}
			}()
		}

		time.Sleep(loadFor)
		for acked.Load() < workers && time.Since(proc.startedAt()) < time.Minute {
			time.Sleep(50 * time.Millisecond) // a slow machine: let every worker get a session first
		}
		killed.Store(true)
		proc.kill() // kill -9, mid-load
		wg.Wait()
		proc.checkLog(t)
		t.Logf("cycle %d: SIGKILL after %d requests (%d logins acknowledged this cycle, %d tokens so far)",
			cycle, requests.Load(), acked.Load(), len(book.snapshot()))

		if kind == "sqlite" {
			checkSQLiteFile(t, db, filepath.Join(dir, fmt.Sprintf("crash-%d", cycle)))
		}

		proc = startServe(t, dir, db, cycle+1)
		verifyTokens(t, client, proc.base, book.snapshot(), cycle)
		bad.check(t, fmt.Sprintf("cycle %d", cycle))
		if t.Failed() {
			t.Logf("server log before the restart:\n%s", tail(proc.log(), 3000))
			return
		}
	}

	// New logins work on the restarted server; then a graceful stop.
	if tok, r := login(client, proc.base, users[0], ""); tok == "" {
		t.Errorf("login after the last restart: %s", r)
	} else {
		book.set(tok, users[0].user, tokAlive)
	}
	if err := proc.terminate(20 * time.Second); err != nil {
		t.Errorf("graceful stop after the crashes: %v\n%s", err, tail(proc.log(), 3000))
	}
	proc.checkLog(t)

	// The store as the crashes left it: whole rows, audited in the same
	// transaction.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var st data.Store
	var err error
	if kind == "sqlite" {
		checkSQLiteFile(t, db, filepath.Join(dir, "final"))
		st, err = sqlite.Open(ctx, db)
	} else {
		st, err = postgres.Open(ctx, db)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkWholeRows(ctx, t, st, book.snapshot())
}

// startedAt is when the process was started (approximately: when its log
// file was created).
func (p *serveProc) startedAt() time.Time {
	fi, err := os.Stat(p.logPath)
	if err != nil {
		return time.Now()
	}
	return fi.ModTime()
}

// verifyTokens checks every token the clients were handed against the
// restarted server.
func verifyTokens(t *testing.T, c *http.Client, base string, book map[string]tracked, cycle int) {
	t.Helper()
	var alive, out, uncertainDone, uncertainLive int
	for tok, tr := range book {
		r := do(c, http.MethodGet, base, "/api/me", nil, tok)
		if r.Err != nil || r.Status >= 500 {
			t.Errorf("cycle %d, after restart: %s", cycle, r)
			continue
		}
		switch tr.state {
		case tokAlive:
			alive++
			if r.Status != http.StatusOK {
				t.Errorf("cycle %d, after restart: acknowledged login of %s lost: %s", cycle, tr.user, r)
			} else if got, err := meUser(r); err != nil || got != tr.user {
				t.Errorf("cycle %d, after restart: %s names %q (%v), want %q", cycle, r, got, err, tr.user)
			}
		case tokLoggedOut:
			out++
			if r.Status != http.StatusUnauthorized {
				t.Errorf("cycle %d, after restart: acknowledged logout of %s undone: %s", cycle, tr.user, r)
			}
		case tokUncertain:
			switch r.Status {
			case http.StatusOK:
				uncertainLive++
				if got, err := meUser(r); err != nil || got != tr.user {
					t.Errorf("cycle %d, after restart: %s names %q (%v), want %q", cycle, r, got, err, tr.user)
				}
			case http.StatusUnauthorized:
				uncertainDone++
			default:
				t.Errorf("cycle %d, after restart: token whose logout was cut off: %s: want 200 or 401", cycle, r)
			}
		}
		if r.Status == http.StatusUnauthorized {
			if err := jsonError(r); err != nil {
				t.Errorf("cycle %d: %s: %v", cycle, r, err)
			}
		}
	}
	t.Logf("cycle %d, after restart: %d acknowledged sessions valid, %d logged out refused, cut-off logouts: %d done, %d not",
		cycle, alive, out, uncertainDone, uncertainLive)
}

// checkSQLiteFile copies the database files as they are (after a crash:
// with the WAL and shared-memory files the dead process left) and runs
// integrity_check and foreign_key_check on the copy, through database/sql
// and modernc.org/sqlite, so the original stays exactly as the crash left it
// for the restart.
func checkSQLiteFile(t *testing.T, db, snapDir string) {
	t.Helper()
	if err := os.MkdirAll(snapDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile := func(from, to string) {
		in, err := os.Open(from)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(snapDir, filepath.Base(db))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		copyFile(db+suffix, snap+suffix)
	}
	conn, err := sql.Open("sqlite", snap)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var lines []string
	rows, err := conn.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, s)
	}
	rows.Close()
	if len(lines) != 1 || lines[0] != "ok" {
		t.Errorf("PRAGMA integrity_check on the crashed file: %q", lines)
	}
	rows, err = conn.Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatalf("foreign_key_check: %v", err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if n > 0 {
		t.Errorf("PRAGMA foreign_key_check on the crashed file: %d violations", n)
	}
}

// checkWholeRows checks that every session row is complete and was written
// in one transaction with its audit entries, and agrees with what the
// clients were told.
func checkWholeRows(ctx context.Context, t *testing.T, st data.Store, book map[string]tracked) {
	t.Helper()
	sessions := map[string]data.Session{}
	var since int64
	for {
		ch, err := st.ChangesSince(ctx, since, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ch.Sessions {
			sessions[s.ID] = s
			since = s.Version
		}
		if !ch.More {
			break
		}
	}
	audits := map[string]map[string]int{} // action -> session ID -> count
	for _, action := range []string{data.ActionLogin, data.ActionLogout} {
		audits[action] = map[string]int{}
		q := data.AuditQuery{Action: action, Limit: 1000}
		for {
			es, err := st.Audit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				audits[action][e.SessionID]++
				q.BeforeID = e.ID
			}
			if len(es) < q.Limit {
				break
			}
		}
	}
	loggedOut := 0
	for id, s := range sessions {
		short := id[:8]
		if s.Username == "" || s.UserID == 0 || s.LoginTime.IsZero() || !s.ExpiresAt.After(s.LoginTime) || s.Version <= 0 {
			t.Errorf("session %s is not whole: %+v", short, s)
		}
		if n := audits[data.ActionLogin][id]; n != 1 {
			t.Errorf("session %s (%s) has %d login audit entries, want 1", short, s.Username, n)
		}
		ended := !s.EndedAt.IsZero()
		if ended != (s.EndReason != "") {
			t.Errorf("session %s: ended_at %v with reason %q", short, s.EndedAt, s.EndReason)
		}
		n := audits[data.ActionLogout][id]
		if s.EndReason == data.EndLogout {
			loggedOut++
			if n != 1 {
				t.Errorf("session %s logged out with %d logout audit entries, want 1", short, n)
			}
		} else if n != 0 {
			t.Errorf("session %s not logged out (reason %q) but has %d logout audit entries", short, s.EndReason, n)
		}
	}
	for action, ids := range audits {
		for id := range ids {
			if _, ok := sessions[id]; !ok {
				t.Errorf("%s audit entry for session %s, which has no row", action, id)
			}
		}
	}
	for tok, tr := range book {
		s, ok := sessions[sessionlogic.HashToken(tok)]
		switch {
		case !ok:
			t.Errorf("acknowledged session of %s has no row", tr.user)
		case tr.state == tokLoggedOut && s.EndReason != data.EndLogout:
			t.Errorf("acknowledged logout of %s: row ended %q", tr.user, s.EndReason)
		}
	}
	orphans := len(sessions) - len(book)
	t.Logf("store after the crashes: %d session rows (%d logged out), %d handed to clients, %d created by logins whose answer was lost to a kill",
		len(sessions), loggedOut, len(book), orphans)
}
