package django

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"sessionmon/data"
)

// NotifyChannel is the LISTEN/NOTIFY channel of the opt-in trigger.
const NotifyChannel = "sessionmon_django"

const notifyTrigger = "sessionmon_django_notify"

// MigrateOptions choose what Migrate installs.
type MigrateOptions struct {
	// Notify installs, on PostgreSQL, a statement-level trigger on
	// django_session that NOTIFYs NotifyChannel after every INSERT (a
	// login) and DELETE (a logout): the dashboard then shows them at once
	// instead of at its next poll. UPDATEs (every request under
	// SESSION_SAVE_EVERY_REQUEST) are not announced. It is the one object
	// of ours on a Django table, and NOTIFY serialises the commits of the
	// transactions that send it, so it is opt-in; RemoveNotify drops it.
	Notify bool
	// RemoveNotify drops the trigger and its function.
	RemoveNotify bool
}

// Migrate creates sessionmon's own objects in the Django site's database:
// the sessionmon_django_audit table (and, with o.Notify, the NOTIFY
// trigger). It never creates or alters a table of Django's. It needs a role
// that may create tables; an operator who may not uses a local audit file
// instead (Options.AuditPath).
func Migrate(ctx context.Context, dsn string, o MigrateOptions) error {
	s := &Source{opts: Options{CookieAge: DefaultCookieAge}, done: make(chan struct{})}
	var err error
	if IsPostgres(dsn) {
		err = s.openPostgres(ctx, dsn)
	} else {
		err = s.openSQLite(ctx, dsn)
	}
	if err != nil {
		return err
	}
	defer s.db.Close()
	ok, err := s.dialect.tableExists(ctx, s.db, "django_session")
	if err != nil {
		return fmt.Errorf("django migrate %s: %w", s.desc, err)
	}
	if !ok {
		return fmt.Errorf("django migrate %s: no django_session table: run the site's `manage.py migrate` first, or check the database", s.desc)
	}
	for _, q := range s.dialect.auditDDL() {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("django migrate %s: create sessionmon_django_audit: %w", s.desc, err)
		}
	}
	_, pg := s.dialect.(postgresDialect)
	if (o.Notify || o.RemoveNotify) && !pg {
		return fmt.Errorf("django migrate %s: the NOTIFY trigger needs PostgreSQL; on SQLite the dashboard polls", s.desc)
	}
	if o.RemoveNotify {
		for _, q := range []string{
			"DROP TRIGGER IF EXISTS " + notifyTrigger + " ON django_session",
			"DROP FUNCTION IF EXISTS " + notifyTrigger + "()",
		} {
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("django migrate %s: remove trigger: %w", s.desc, err)
			}
		}
	}
	if o.Notify {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("django migrate %s: %w", s.desc, err)
		}
		defer tx.Rollback()
		for _, q := range []string{
			`CREATE OR REPLACE FUNCTION ` + notifyTrigger + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('` + NotifyChannel + `', lower(TG_OP));
	RETURN NULL;
END $$`,
			"DROP TRIGGER IF EXISTS " + notifyTrigger + " ON django_session",
			"CREATE TRIGGER " + notifyTrigger + " AFTER INSERT OR DELETE ON django_session FOR EACH STATEMENT EXECUTE FUNCTION " + notifyTrigger + "()",
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("django migrate %s: install trigger: %w", s.desc, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("django migrate %s: %w", s.desc, err)
		}
	}
	return nil
}

// Pushes reports whether the site's database announces logins and logouts
// (the trigger of MigrateOptions.Notify is installed).
func (s *Source) Pushes() bool { return s.notify }

// DataSource returns s as the data.Source the dashboard should use: with
// the NOTIFY trigger installed it is also a data.Watcher, otherwise it is
// not, and the dashboard polls (and says so).
func (s *Source) DataSource() data.Source {
	if s.notify {
		return pushSource{s}
	}
	return s
}

type pushSource struct{ *Source }

var _ data.Watcher = pushSource{}

// Watch listens on NotifyChannel and calls notify after each login or
// logout the site commits, and once after each (re)connect, until ctx is
// done; it reconnects by itself with backoff and returns ctx.Err().
func (p pushSource) Watch(ctx context.Context, notify func()) error {
	backoff := 100 * time.Millisecond
	for {
		err := p.listen(ctx, notify)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return errors.New("django watch: source closed")
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (p pushSource) listen(ctx context.Context, notify func()) error {
	conn, err := pgx.ConnectConfig(ctx, p.pgCfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	notify() // anything committed while we were not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		notify()
	}
}
