package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

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
// answers) ends `sessionmon serve` and `sessionmon watch` within the grace
// period, whatever the store does. One private cluster serves both: it is
// frozen and thawed once for each.
func TestShutdownWhilePostgresHangs(t *testing.T) {
	pg := startPGCluster(t)
	dir := t.TempDir()
	dsn := pg.DSN()
	cli(t, dir, "", "--db", dsn, "migrate")
	t.Run("serve", func(t *testing.T) { shutdownServe(t, pg, dir, dsn) })
	t.Run("watch", func(t *testing.T) { shutdownWatch(t, pg, dir, dsn) })
}

// shutdownServe: serve under login load, PostgreSQL frozen, SIGTERM. It
// must exit within the grace period and lose no acknowledged write: every
// login the clients were told succeeded (303 with a cookie) is in the store
// once PostgreSQL runs again. Before the fix the pool's Close waited on the
// hung connections: 17-19 s.
func shutdownServe(t *testing.T, pg *pgCluster, dir, dsn string) {
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
	for deadline := time.Now().Add(30 * time.Second); before < 8 && time.Now().Before(deadline); {
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

// openPTY opens a pseudo-terminal pair: the dashboard needs a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal for the dashboard: %v", err)
	}
	ioctl := func(req uintptr, arg unsafe.Pointer) error {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), req, uintptr(arg)); e != 0 {
			return e
		}
		return nil
	}
	var unlock int32
	var n uint32
	ws := struct{ rows, cols, x, y uint16 }{24, 80, 0, 0}
	if err := ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		m.Close()
		t.Skipf("unlock pty: %v", err)
	}
	if err := ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		m.Close()
		t.Skipf("pty number: %v", err)
	}
	if err := ioctl(syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		m.Close()
		t.Skipf("pty size: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// shutdownWatch: the dashboard on a PostgreSQL store that hangs
// (SIGSTOPped) quits on SIGTERM within the grace period, though its polls
// and its LISTEN connection wait on the hung server and the pgx pool's
// Close would wait 15 s for them.
func shutdownWatch(t *testing.T, pg *pgCluster, dir, dsn string) {
	master, slave := openPTY(t)
	cmd := exec.Command(sessionmonBinary(t), "--db", dsn, "watch", "--poll", "250ms")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "TERM=xterm-256color")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	var screen safeBuffer
	go func() { _, _ = io.Copy(&screen, master) }() // the terminal: read what is drawn
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	// Up and polling: the header says the store is live.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(screen.String(), "live"); {
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard did not show a live store within 30s; screen:\n%q", tail(screen.String(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	thaw := pg.freeze()
	defer thaw()
	time.Sleep(1 * time.Second) // polls now hang inside the store
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		took := time.Since(start)
		t.Logf("watch exited %s after SIGTERM with PostgreSQL frozen (%v)", took.Round(time.Millisecond), err)
		if took > shutdownGrace+shutdownMargin {
			t.Errorf("watch took %s to exit; the grace period is %s", took.Round(time.Millisecond), shutdownGrace)
		}
	case <-time.After(shutdownGrace + 20*time.Second):
		// Where is it stuck? SIGQUIT makes the Go runtime print every
		// goroutine to stderr, the terminal.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("watch still running %s after SIGTERM with PostgreSQL frozen; terminal:\n%s",
			shutdownGrace+20*time.Second, tail(strings.ReplaceAll(screen.String(), "\r", ""), 20000))
	}
}

// safeBuffer is a bytes.Buffer for one writer and concurrent readers.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
