package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/sessionlogic"
)

// shutdownGrace is the grace period `sessionmon serve` promises (server's
// shutdown budget), and shutdownMargin what the test allows on top for the
// process to exit and the kernel to tell us.
const (
	shutdownGrace  = 10 * time.Second
	shutdownMargin = 1500 * time.Millisecond
)

// TestShutdownWhilePostgresHangs: SIGTERM while PostgreSQL hangs (its
// postmaster and every backend SIGSTOPped: connections stay open, nothing
// answers) must end `sessionmon serve` within the grace period, whatever
// the store does, and lose no acknowledged write: every login the clients
// were told succeeded (303 with a cookie) is in the store once PostgreSQL
// runs again. Before the fix the pool's Close waited on the hung
// connections: 17 s.
func TestShutdownWhilePostgresHangs(t *testing.T) {
	pg := startPGCluster(t)
	dir := t.TempDir()
	dsn := pg.DSN()
	cli(t, dir, "", "--db", dsn, "migrate")
	type user struct{ name, password string }
	var users []user
	for i := range 4 {
		u := user{fmt.Sprintf("shut%d", i), fmt.Sprintf("pw-shutdown-%d", i)}
		cli(t, dir, u.password+"\n", "--db", dsn, "users", "add", u.name, "--password-stdin")
		users = append(users, u)
	}
	p := startServe(t, dir, dsn, 0)
	client := newClient(16, 30*time.Second)

	// Logins and /api/me, from 8 clients, until the server is gone. A login
	// counts as acknowledged only when its 303 and cookie arrived.
	var (
		mu    sync.Mutex
		acked = map[string]string{} // token -> user
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for i := range 8 {
		wg.Go(func() {
			u := users[i%len(users)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, r := login(client, p.base, cred{user: u.name, password: u.password}, "")
				if tok != "" {
					mu.Lock()
					acked[tok] = u.name
					mu.Unlock()
					do(client, http.MethodGet, p.base, "/api/me", nil, tok)
				} else if r.Err != nil {
					time.Sleep(10 * time.Millisecond) // the server is going or gone
				}
			}
		})
	}
	// Logins flow (bcrypt at the default cost: tens a second at most here).
	before := 0
	for deadline := time.Now().Add(30 * time.Second); before < 16 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		before = len(acked)
		mu.Unlock()
	}
	if before == 0 {
		close(stop)
		wg.Wait()
		t.Fatalf("no login succeeded before the freeze:\n%s", tail(p.log(), 3000))
	}

	thaw := pg.freeze()
	time.Sleep(500 * time.Millisecond) // requests now hang inside the store
	start := time.Now()
	err := p.terminate(shutdownGrace + 20*time.Second)
	took := time.Since(start)
	close(stop)
	wg.Wait()
	t.Logf("SIGTERM with PostgreSQL frozen: exited in %s (%v); %d logins acknowledged", took.Round(time.Millisecond), err, len(acked))
	if err != nil {
		var ee interface{ ExitCode() int }
		if !errors.As(err, &ee) {
			t.Errorf("serve: %v", err)
		}
	}
	if took > shutdownGrace+shutdownMargin {
		t.Errorf("serve took %s to exit after SIGTERM with PostgreSQL hung; the grace period is %s", took.Round(time.Millisecond), shutdownGrace)
	}
	p.checkLog(t)
	if t.Failed() || testing.Verbose() {
		t.Logf("serve's log, from SIGTERM:\n%s", tail(p.log(), 3000))
	}

	// PostgreSQL runs again: every acknowledged login is there, whole.
	thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lost := 0
	for tok, name := range acked {
		s, err := st.Session(ctx, sessionlogic.HashToken(tok))
		switch {
		case errors.Is(err, data.ErrNotFound):
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged login of %s lost: session %s not in the store", name, sessionlogic.HashToken(tok)[:8])
			}
		case err != nil:
			t.Fatalf("read session: %v", err)
		case s.Username != name || !s.EndedAt.IsZero():
			t.Errorf("acknowledged login of %s: stored as %q, ended %v", name, s.Username, s.EndedAt)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged logins lost", lost, len(acked))
	}
}
