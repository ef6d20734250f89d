package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"sessionmon/backend"
	"sessionmon/config"
	"sessionmon/data"
	"sessionmon/sessionlogic"
)

// usageError marks a mistake in the command line (exit status 2).
type usageError struct{ error }

// app is what every subcommand shares: the flags that feed config, and
// the loaded configuration.
type app struct {
	configFile string
	sets       []string          // --set key=value
	flagValues map[string]string // config key -> raw value, from named flags the user set
	cfg        config.Config
	stdout     io.Writer
	stderr     io.Writer
	stdin      io.Reader
	env        func(string) (string, bool)
}

func newRootCmd() *cobra.Command {
	a := &app{flagValues: map[string]string{}, stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, env: os.LookupEnv}
	return a.rootCmd()
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sessionmon",
		Short: "Watch and control web login sessions live",
		Long: `sessionmon is a live terminal dashboard for web login sessions and the
companion HTTP login server whose sessions it watches, on one store
(an embedded SQLite file by default, or PostgreSQL).

Try it:  sessionmon demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.load(cmd)
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "config file (TOML; default ./sessionmon.toml when present)")
	pf.String("db", "", `store: an SQLite file path (or sqlite:PATH), or a PostgreSQL DSN: postgres://user@host/db or "host=... dbname=..." (config key "db", env SESSIONMON_DB; default sessionmon.db)`)
	pf.StringArrayVar(&a.sets, "set", nil, `set any config key, e.g. --set session.cookie_age=24h (repeatable; see "sessionmon config")`)
	pf.String("operator", "", "operator name written to the audit table with every action (default: the OS user)")
	pf.String("source", "", `whose sessions --db holds: sessionmon (default) or django, a Django site's django_session (config key "source", env SESSIONMON_SOURCE)`)

	root.AddCommand(
		a.serveCmd(),
		a.watchCmd(),
		a.demoCmd(),
		a.migrateCmd(),
		a.usersCmd(),
		a.sessionsCmd(),
		a.configCmd(),
	)
	return root
}

// flagKeys maps named flags to the config keys they set.
var flagKeys = map[string]string{
	"db":         "db",
	"listen":     "listen",
	"production": "production",
	"operator":   "dashboard.operator",
	"source":     "source",
	"read-only":  "dashboard.read_only",
	"poll":       "dashboard.poll_interval",
}

// load builds the configuration: defaults < file < environment < flags.
func (a *app) load(cmd *cobra.Command) error {
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if key, ok := flagKeys[f.Name]; ok {
			a.flagValues[key] = f.Value.String()
		}
	})
	for _, kv := range a.sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return usageError{fmt.Errorf("--set %q: want key=value", kv)}
		}
		a.flagValues[strings.TrimSpace(k)] = v
	}
	cfg, err := config.Load(config.LoadOptions{File: a.configFile, Env: a.env, Flags: a.flagValues})
	if err != nil {
		return err
	}
	a.cfg = cfg
	// Refuse a store name no backend reads before any command runs, as
	// config refuses any other bad value ("sessionmon config" included).
	_, err = a.store()
	return err
}

// operator is the name audited with operator actions.
func (a *app) operator() string {
	if a.cfg.Dashboard.Operator != "" {
		return a.cfg.Dashboard.Operator
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "operator"
}

// logger writes to w in the configured format and level.
func (a *app) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(a.cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if a.cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// store resolves the configured db through the backend registry. A value
// it refuses is one line naming where the value came from; the value itself
// is not repeated, since it may hold a password.
func (a *app) store() (backend.Target, error) {
	t, err := backend.Resolve(a.cfg.DB)
	if err != nil {
		return backend.Target{}, fmt.Errorf("db from %s: %w", a.dbSource(), err)
	}
	return t, nil
}

// dbSource says where the db value came from, as config's errors do.
func (a *app) dbSource() string {
	if _, ok := a.flagValues["db"]; ok {
		return "the command line"
	}
	if _, ok := a.env("SESSIONMON_DB"); ok {
		return "SESSIONMON_DB"
	}
	return "the config file"
}

// openStore opens the configured store for what mode allows: only migrate,
// serve and demo may create an SQLite file (backend.Mode).
func (a *app) openStore(ctx context.Context, mode backend.Mode) (data.Store, error) {
	if a.isDjango() {
		return nil, fmt.Errorf("source django: this command needs sessionmon's own store (users, logins); a Django site serves watch, sessions list/revoke/revoke-user/extend and migrate (%w)", data.ErrUnsupported)
	}
	t, err := a.store()
	if err != nil {
		return nil, err
	}
	return t.OpenStore(ctx, mode)
}

// managerOptions are the Manager settings the configuration fixes.
func (a *app) managerOptions(st data.Store, log *slog.Logger) sessionlogic.Options {
	c := a.cfg
	return sessionlogic.Options{
		Store: st,
		Cookie: sessionlogic.CookieOptions{
			Name:           c.CookieName(),
			Age:            c.Session.CookieAge,
			BrowserSession: c.Session.ExpireAtBrowserClose,
			Secure:         c.Secure(),
			HTTPOnly:       c.Session.CookieHTTPOnly,
			SameSite:       c.SameSite(),
			Domain:         c.Session.CookieDomain,
			Path:           c.Session.CookiePath,
		},
		SaveEveryRequest:   c.Session.SaveEveryRequest,
		IdleTimeout:        c.Session.IdleTimeout,
		AbsoluteTimeout:    c.Session.AbsoluteTimeout,
		TouchInterval:      c.Session.TouchInterval,
		Retention:          c.Session.PurgeRetention,
		MaxFailuresPerUser: c.Login.MaxFailuresPerUser,
		MaxFailuresPerIP:   c.Login.MaxFailuresPerIP,
		FailureWindow:      c.Login.FailureWindow,
		Logger:             log,

		MaxFailuresPerUserIP: c.Login.MaxFailuresPerUserIP,
	}
}

// withManager opens the store, builds a Manager and runs fn, closing the
// store afterwards. It serves the short CLI commands.
func (a *app) withManager(ctx context.Context, fn func(*sessionlogic.Manager) error) error {
	if a.isDjango() {
		src, err := a.openDjango(ctx, 0)
		if err != nil {
			return err
		}
		defer src.Close()
		m, err := sessionlogic.New(sessionlogic.Options{Source: src, Logger: a.logger(io.Discard)})
		if err != nil {
			return err
		}
		return fn(m)
	}
	st, err := a.openStore(ctx, backend.Existing)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := sessionlogic.New(a.managerOptions(st, a.logger(io.Discard)))
	if err != nil {
		return err
	}
	return fn(m)
}
