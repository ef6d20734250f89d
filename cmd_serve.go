package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"sessionmon/backend"
	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/server"
	"sessionmon/sessionlogic"
)

// serve's own named flags that set config keys (the shared ones are in
// flagKeys, cli.go).
func init() { flagKeys["allowed-hosts"] = "allowed_hosts" }

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the companion HTTP login server",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := a.cfg.CheckServe(); err != nil {
				return err // a configuration error, like those of config.Load (exit 1)
			}
			log := a.logger(a.stderr)
			st, err := a.openStore(ctx, backend.Create)
			if err != nil {
				return err
			}
			// The grace period runs from SIGTERM (ctx done) to exit: the
			// HTTP drain takes at most ShutdownGrace - CloseReserve, the
			// store's Close at most CloseReserve and never past the grace.
			var stopAt atomic.Pointer[time.Time]
			defer context.AfterFunc(ctx, func() { now := time.Now(); stopAt.Store(&now) })()
			defer func() {
				budget := server.CloseReserve
				if t := stopAt.Load(); t != nil {
					budget = min(budget, max(time.Until(t.Add(server.ShutdownGrace)), 0))
				}
				if err := closeStore(st, budget); err != nil {
					log.Warn("close the store", "err", err)
				}
			}()
			ln, err := net.Listen("tcp", a.cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
			}
			srv, m, err := a.buildServer(st, log, nil)
			if err != nil {
				ln.Close()
				return err
			}
			defer srv.Close()
			go m.RunPurger(ctx, a.cfg.Session.PurgeInterval)
			warnMaintenance(ctx, st, log)
			log.Info("serving", "url", "http://"+ln.Addr().String(), "store", st.Describe(),
				"allowed_hosts", strings.Join(a.allowedHosts(), ", "))
			return server.Serve(ctx, ln, srv.Handler(), log)
		},
	}
	cmd.Flags().String("listen", "", "address to listen on (config key listen; default 127.0.0.1:8080)")
	cmd.Flags().Bool("production", false, "production mode: Secure __Host- cookie, HSTS")
	cmd.Flags().String("allowed-hosts", "", `host names served, comma-separated: "sessions.example.com", ".example.com", "*" (config key allowed_hosts; default loopback and the listen host)`)
	return cmd
}

// closeStore closes st, waiting at most d. A hung database (PostgreSQL
// stopped, a dead network path) would otherwise hold the process as long
// as its driver waits on each connection (pgxpool: 15 s). Leaving early
// loses nothing acknowledged: every write a client or an operator was told
// about was committed before the answer; what Close still waits for is
// connections to hand back (and, on SQLite, a checkpoint that the next
// open redoes from the WAL).
func closeStore(st data.Source, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- st.Close() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%s did not close within %s; exiting without waiting (every acknowledged write is committed)",
			st.Describe(), d.Round(time.Millisecond))
	}
}

// warnMaintenance logs what the database needs and does not have: on
// PostgreSQL, autovacuum. Purging removes old sessions, but only VACUUM
// reclaims the dead row version each request's touch leaves behind; with
// autovacuum off the sessions table grows without bound (measured: 220 MB
// in 3 minutes for 10,000 sessions at ~4k req/s, docs/PERFORMANCE.md).
func warnMaintenance(ctx context.Context, st data.Store, log *slog.Logger) {
	pg, ok := st.(*postgres.Store)
	if !ok {
		return
	}
	server, table, err := pg.Autovacuum(ctx)
	const why = "every request leaves a dead row version in the sessions table that only VACUUM reclaims"
	switch {
	case err != nil:
		log.Warn("could not check autovacuum", "err", err)
	case !server:
		log.Warn("autovacuum is off on the PostgreSQL server: " + why + "; turn it on (autovacuum = on) or run VACUUM sessions regularly")
	case !table:
		log.Warn("autovacuum is off for the sessions table (autovacuum_enabled = false): " + why + "; ALTER TABLE sessions RESET (autovacuum_enabled) or run VACUUM sessions regularly")
	}
}

// allowedHosts is allowed_hosts, or when unset the loopback names and the
// host the server listens on.
func (a *app) allowedHosts() []string {
	if len(a.cfg.AllowedHosts) > 0 {
		return a.cfg.AllowedHosts
	}
	return server.DefaultAllowedHosts(a.cfg.Listen)
}

// buildServer wires metrics, the Manager and the login server on st.
// tweak, when not nil, adjusts the Manager's options (the demo uses it).
func (a *app) buildServer(st data.Store, log *slog.Logger, tweak func(*sessionlogic.Options)) (*server.Server, *sessionlogic.Manager, error) {
	metrics, err := server.NewMetrics(nil)
	if err != nil {
		return nil, nil, err
	}
	opts := a.managerOptions(st, log)
	opts.Observer = metrics
	if tweak != nil {
		tweak(&opts)
	}
	m, err := sessionlogic.New(opts)
	if err != nil {
		return nil, nil, err
	}
	// /healthz commits a write too when the store can (both can): a
	// read-only or full store answers pings while refusing every login.
	prober, _ := st.(data.WriteProber)
	srv, err := server.New(server.Options{
		Manager:           m,
		Logger:            log,
		TrustProxyHeaders: a.cfg.Login.TrustProxyHeaders,
		Production:        a.cfg.Production,
		Metrics:           metrics,
		WriteProber:       prober,
		AllowedHosts:      a.allowedHosts(),
		TrustedOrigins:    a.cfg.TrustedOrigins,
	})
	if err != nil {
		return nil, nil, err
	}
	return srv, m, nil
}
