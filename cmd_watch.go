package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"sessionmon/backend"
	"sessionmon/data"
	"sessionmon/demo"
	"sessionmon/server"
	"sessionmon/sessionlogic"
	"sessionmon/tui"
)

func (a *app) watchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Open the live dashboard on a store (--db)",
		Long: `Open the live dashboard on a store. Alongside any number of
"sessionmon serve" processes on the same store (PostgreSQL for many), it shows
every session they make and acts on them.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dashboardGC()
			if a.isDjango() {
				return a.watchDjango(ctx)
			}
			t, err := a.store()
			if err != nil {
				return err
			}
			// A server that does not answer at start opens the dashboard
			// in its connecting state, retrying (cmd_watch_connect.go).
			// The dashboard quits at once on q or SIGTERM; closing the
			// store must not hold the exit when the database hangs.
			var held heldStore
			defer func() {
				if err := held.close(); err != nil {
					fmt.Fprintln(a.stderr, "sessionmon:", err)
				}
			}()
			opts := a.tuiOptions(nil)
			err = watchConnect(ctx, t, &held, &opts, func(st data.Store) (*sessionlogic.Manager, error) {
				return sessionlogic.New(a.managerOptions(st, slog.New(slog.DiscardHandler)))
			})
			if err != nil {
				return err
			}
			// A store whose notices cover this process only (SQLite)
			// does not hear the separate serve that makes the sessions:
			// poll, and do not claim push.
			opts.NoPush = !t.Kind.SharedNotices
			return tui.Run(ctx, opts)
		},
	}
	cmd.Flags().Bool("read-only", false, "disable the action keys (mark, force-logout, extend)")
	cmd.Flags().Duration("poll", 0, "poll interval (config key dashboard.poll_interval; default 1s)")
	return cmd
}

// dashboardGC runs the collector at GOGC=25 unless GOGC is set. A
// dashboard runs for hours on a small Go heap (a page of sessions; a
// Django site's index, 85 MB at 1M rows, is mapped outside it:
// internal/offheap), so how far the heap grows between collections, not
// what it holds, sets much of the Go runtime's footprint: Go's target is
// what is live plus GOGC% of it and of the goroutines' stacks (the SQLite
// driver runs its C code on them: 2-3 MB). At 25 rather than Go's 100 the
// heap grows by a quarter of 3-5 MB before each collection; collecting
// that small a heap about three times a second costs under 1% of a core.
func dashboardGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(dashboardGOGC)
	}
}

const dashboardGOGC = 25

// watchDjango is the dashboard on a Django site: push when the site's
// database has the NOTIFY trigger (migrate --source django --django-notify),
// else poll; read-only, saying why, when the role may not act.
func (a *app) watchDjango(ctx context.Context) error {
	src, err := a.openDjango(ctx, 4*time.Second) // + the dashboard's 5 s stats cadence: counts under 10 s old
	if err != nil {
		return err
	}
	defer src.Close()
	m, err := sessionlogic.New(sessionlogic.Options{Source: src.DataSource(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	opts := a.tuiOptions(m)
	opts.NoPush = !src.Pushes()
	opts.ReadOnly = opts.ReadOnly || djangoReadOnly(src)
	opts.Notice = djangoNotice(src)
	return tui.Run(ctx, opts)
}

func (a *app) demoCmd() *cobra.Command {
	var (
		users    int
		headless bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The dashboard on an embedded store, with a login server and live simulated traffic",
		Long: `Run everything in one process: an embedded SQLite store (a temporary
file unless --db is given), demo users of several roles, the login server on
127.0.0.1:8080 (or a free port), a traffic simulator of virtual users over real
HTTP, and the dashboard on the same store. q quits everything.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if users < 1 || users > 10000 {
				return usageError{fmt.Errorf("--users %d: want 1 to 10000", users)}
			}
			return a.runDemo(cmd, users, headless)
		},
	}
	cmd.Flags().IntVar(&users, "users", 40, "virtual users in the traffic simulator")
	cmd.Flags().String("listen", "", "login server address (default 127.0.0.1:8080, or a free port when taken)")
	cmd.Flags().Bool("read-only", false, "disable the dashboard's action keys")
	cmd.Flags().Duration("poll", 0, "dashboard poll interval (default 1s)")
	cmd.Flags().BoolVar(&headless, "no-dashboard", false, "run the server and the simulator without the dashboard, until interrupted")
	return cmd
}

func (a *app) runDemo(cmd *cobra.Command, users int, headless bool) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()

	dir, err := os.MkdirTemp("", "sessionmon-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_, dbFromEnv := a.env("SESSIONMON_DB")
	if !cmd.Flags().Changed("db") && !dbFromEnv {
		a.cfg.DB = filepath.Join(dir, "demo.db")
	}
	t, err := a.store()
	if err != nil {
		return err
	}
	if !t.Kind.Embedded {
		// The demo seeds users whose passwords are published (alice /
		// wonderland, the rest guessable): never on a shared store.
		return usageError{fmt.Errorf("demo runs on an SQLite file only: it creates users with published passwords; use \"sessionmon watch\" for %s", t.Kind.Title)}
	}
	// The dashboard owns the terminal, so the server's and the simulator's
	// logs go to a file.
	logPath := filepath.Join(dir, "demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := a.logger(logFile)

	st, err := t.OpenStore(ctx, backend.Migrate)
	if err != nil {
		return err
	}
	defer st.Close()
	// Demo passwords are throwaway, so they are hashed at bcrypt's minimum
	// cost: seeding 41 users and the virtual users' logins then take
	// milliseconds instead of seconds of a small machine's CPU, and the
	// table fills within seconds. serve keeps the configured cost.
	srv, m, err := a.buildServer(st, log, func(o *sessionlogic.Options) { o.PasswordCost = bcrypt.MinCost })
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("demo: no port to listen on: %w", err)
		}
	}
	url := "http://" + ln.Addr().String()

	fmt.Fprintf(a.stdout, "sessionmon demo: seeding %d demo users on %s ...\n", users+1, st.Describe())
	accounts, err := demo.Seed(ctx, m, users+1)
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo: seed users: %w", err)
	}

	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := server.Serve(ctx, ln, srv.Handler(), log); err != nil {
			errc <- err
			cancel()
		}
	}()
	sim := demo.NewSimulator(demo.SimOptions{BaseURL: url, Accounts: accounts[1:], Users: users, Logger: log})
	go func() {
		defer wg.Done()
		_ = sim.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		m.RunPurger(ctx, a.cfg.Session.PurgeInterval)
	}()

	banner := fmt.Sprintf("login server: %s   try it in a browser: %s / %s   log: %s",
		url, demo.DemoUsername, demo.DemoPassword, logPath)
	fmt.Fprintln(a.stdout, banner)

	if headless {
		fmt.Fprintln(a.stdout, "running without the dashboard; Ctrl-C stops")
		<-ctx.Done()
	} else {
		opts := a.tuiOptions(m)
		opts.Notice = fmt.Sprintf("try %s in a browser: %s / %s", url, demo.DemoUsername, demo.DemoPassword)
		err = tui.Run(ctx, opts)
	}
	cancel()
	wg.Wait()
	select {
	case serr := <-errc:
		err = errors.Join(err, serr)
	default:
	}
	fmt.Fprintf(a.stdout, "sessionmon demo: stopped. %s\n", sim.Stats())
	return err
}

func (a *app) tuiOptions(m *sessionlogic.Manager) tui.Options {
	return tui.Options{
		Manager:       m,
		Operator:      a.operator(),
		ReadOnly:      a.cfg.Dashboard.ReadOnly,
		PollInterval:  a.cfg.Dashboard.PollInterval,
		ExtendDefault: a.cfg.Session.ExtendDefault,
	}
}
