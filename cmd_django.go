package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sessionmon/data"
	"sessionmon/data/django"
)

// A Django site's sessions (source = "django"): the db key names the site's
// database (its PostgreSQL DSN or its db.sqlite3), read through data/django.

// isDjango reports whether the configured source is a Django site.
func (a *app) isDjango() bool { return a.cfg.Source == "django" }

// djangoDB resolves db through the backend registry (the same forms and
// refusals as for sessionmon's own store) and returns what data/django
// opens: the DSN or the file path.
func (a *app) djangoDB() (string, error) {
	t, err := a.store()
	if err != nil {
		return "", err
	}
	switch t.Kind.Name {
	case "postgres":
		if !django.IsPostgres(t.Value()) {
			return "", fmt.Errorf("db from %s: source django takes a postgres:// URL or the site's SQLite file, not a keyword/value DSN", a.dbSource())
		}
		return t.Value(), nil
	case "sqlite":
		return t.Value(), nil
	}
	return "", fmt.Errorf("db from %s: source django reads PostgreSQL or SQLite, not %s", a.dbSource(), t.Kind.Title)
}

// djangoAuditFile is django.audit_file, or the default under the user's
// state directory.
func (a *app) djangoAuditFile() string {
	if f := a.cfg.Django.AuditFile; f != "" {
		return f
	}
	dir, ok := a.env("XDG_STATE_HOME")
	if !ok || dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "sessionmon", "django-audit.db")
}

// openDjango opens the Django site's sessions. statsMaxAge lets a
// dashboard take counts up to that old (data/django.Options).
func (a *app) openDjango(ctx context.Context, statsMaxAge time.Duration) (*django.Source, error) {
	db, err := a.djangoDB()
	if err != nil {
		return nil, err
	}
	keys, err := django.LoadKeys(a.cfg.Django.SecretKeyFile, a.env)
	if err != nil {
		return nil, err
	}
	return django.Open(ctx, db, django.Options{
		Keys:        keys,
		CookieAge:   a.cfg.Django.CookieAge,
		Engine:      a.cfg.Django.Engine,
		AuditPath:   a.djangoAuditFile(),
		StatsMaxAge: statsMaxAge,
	})
}

// djangoNotice is what the dashboard's status line says at start: what
// this source cannot do or does not do as it seems.
func djangoNotice(src *django.Source) string {
	w := src.Warnings()
	if len(w) == 0 {
		return ""
	}
	return strings.Join(w, "; ")
}

// djangoReadOnly reports whether the dashboard must be read-only: the role
// may not delete, or there is nowhere to audit.
func djangoReadOnly(src *django.Source) bool {
	return src.Refuse(data.ActionForceLogout) != nil
}
