package django

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the site's db.sqlite3

	"sessionmon/data"
)

// DefaultCookieAge is Django's SESSION_COOKIE_AGE default (two weeks).
const DefaultCookieAge = 1209600 * time.Second

// Engines: SESSION_ENGINE's last component.
const (
	EngineDB       = "db"
	EngineCachedDB = "cached_db"
)

// Options configure Open. The zero value reads a db-engine site with
// Django's default cookie age, without verifying signatures, and with no
// audit store but a table of ours in the site's database.
type Options struct {
	// Keys are the site's SECRET_KEY and SECRET_KEY_FALLBACKS. Without them
	// rows are decoded but not verified, and Extend is refused.
	Keys Keys
	// CookieAge is the site's SESSION_COOKIE_AGE (0: DefaultCookieAge). It
	// estimates last activity (expire_date − CookieAge) for sites that do
	// not store it.
	CookieAge time.Duration
	// Engine is the site's SESSION_ENGINE: EngineDB (the default) or
	// EngineCachedDB, whose cache keeps a forced-out session alive until
	// the cache drops it (see Warnings).
	Engine string
	// AuditPath is a local SQLite file for the audit of operator actions,
	// used when the site's database has no sessionmon_django_audit table
	// (Migrate creates it) or the operator may not write there. Empty: no
	// local audit; without either, every action is refused.
	AuditPath string
	// FullSyncEvery bounds how old the in-memory index may grow before it is
	// checked against the whole table: for what the count checks of
	// deletes.go cannot tell (a row saved with a custom expiry below the
	// newest ones; a deletion that a save in the same minute hides until
	// the index reads the save). Rows the site deletes are found by those
	// checks, every 2 s on PostgreSQL and on SQLite in either journal
	// mode, not by the full sync. 0: 10 s.
	FullSyncEvery time.Duration
	// StatsMaxAge lets Stats answer from counts up to this old, recounted
	// in the background, so that a dashboard's poll does not walk a
	// million-row index every tick. 0 (the default) counts on every call.
	StatsMaxAge time.Duration
}

// Source is a data.Source over a Django site's django_session. It is safe
// for concurrent use.
type Source struct {
	db      *sql.DB
	dialect dialect
	opts    Options
	desc    string
	pgCfg   *pgx.ConnConfig // PostgreSQL only: for Watch's own connection

	canWrite  bool   // the role may DELETE and UPDATE django_session
	whyNot    string // why not, for the operator
	authUser  bool   // auth_user exists (the fallback join)
	notify    bool   // the NOTIFY trigger of Migrate(Notify) is installed
	audit     auditStore
	auditDesc string

	idx   *index
	cache sessionCache

	closeOnce sync.Once
	done      chan struct{}
}

var (
	_ data.Source        = (*Source)(nil)
	_ data.IDChecker     = (*Source)(nil)
	_ data.ActionRefuser = (*Source)(nil)
)

// IsPostgres reports whether dsn names a PostgreSQL server rather than an
// SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open connects to the Django site's database: a postgres:// URL or the path
// of the site's SQLite file. It checks that django_session is there, that
// the site does not pickle its sessions (ErrPickle), and what the role may
// do; it changes nothing.
func Open(ctx context.Context, dsn string, o Options) (*Source, error) {
	if o.CookieAge <= 0 {
		o.CookieAge = DefaultCookieAge
	}
	if o.FullSyncEvery <= 0 {
		o.FullSyncEvery = 10 * time.Second
	}
	switch o.Engine {
	case "":
		o.Engine = EngineDB
	case EngineDB, EngineCachedDB:
	default:
		return nil, fmt.Errorf("django open: engine %q: want %q or %q", o.Engine, EngineDB, EngineCachedDB)
	}
	s := &Source{opts: o, done: make(chan struct{})}
	var err error
	if IsPostgres(dsn) {
		err = s.openPostgres(ctx, dsn)
	} else {
		err = s.openSQLite(ctx, dsn)
	}
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("django open %s: %w", s.desc, err)
	}
	s.idx = newIndex(s)
	return s, nil
}

func (s *Source) openPostgres(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return errors.New("django open: cannot parse the PostgreSQL DSN (" + redactParseError(err) + ")")
	}
	s.pgCfg = cfg
	host := cfg.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "/") {
		host = "[" + host + "]"
	}
	s.desc = "django postgres " + cfg.User + "@" + host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database
	s.dialect = postgresDialect{}
	s.db = stdlib.OpenDB(*cfg.Copy())
	s.db.SetMaxOpenConns(4)
	s.db.SetMaxIdleConns(4)
	return nil
}

func (s *Source) openSQLite(ctx context.Context, path string) error {
	if path == "" || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return fmt.Errorf("django open: want a postgres:// URL or the path of the site's SQLite file, got %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("django open %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		// Never create an empty database where the site's should be.
		return fmt.Errorf("django open: %w", err)
	}
	s.desc = "django sqlite " + abs
	s.dialect = sqliteDialect{}
	// The site's journal mode is the site's business: set none. busy_timeout
	// lets our short statements wait out Django's writes (Django waits 5 s
	// for ours).
	// cache_size is this connection's page cache, 2 MB by default: its
	// reads are index ranges and lookups by key whose pages the OS caches
	// anyway, and each of the pool's connections would fill its own.
	uri := (&url.URL{Scheme: "file", Path: abs}).String() + "?_pragma=busy_timeout(5000)&_pragma=cache_size(-512)&_txlock=immediate"
	if !writable(abs) {
		uri += "&mode=ro"
		s.whyNot = "the SQLite file " + abs + " is not writable by this user"
	}
	s.db, err = sql.Open("sqlite", uri)
	if err != nil {
		return fmt.Errorf("django open %s: %w", abs, err)
	}
	s.db.SetMaxOpenConns(2)
	s.db.SetMaxIdleConns(2)
	return nil
}

// writable reports whether SQLite can write the file: the file itself and
// its directory (for the rollback journal) must be writable.
func writable(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sessionmon-probe-*")
	if err != nil {
		return false
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return true
}

// check reads what Open promises to find out.
func (s *Source) check(ctx context.Context) error {
	d := s.dialect
	ok, err := d.tableExists(ctx, s.db, "django_session")
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if !ok {
		return errors.New("no django_session table here: is this the Django site's database, with SESSION_ENGINE db or cached_db?")
	}
	if s.authUser, err = d.tableExists(ctx, s.db, "auth_user"); err != nil {
		return err
	}
	// A pickle site: the newest rows tell. Never unpickle; say so once.
	rows, err := s.db.QueryContext(ctx, "SELECT session_data FROM django_session ORDER BY expire_date DESC LIMIT 20")
	if err != nil {
		return fmt.Errorf("read django_session: %w", err)
	}
	var pickled int
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read django_session: %w", err)
		}
		if _, err := Decode(v); errors.Is(err, ErrPickle) {
			pickled++
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if pickled > 0 {
		return ErrPickle
	}
	if s.whyNot == "" {
		w, err := d.canWrite(ctx, s.db)
		if err != nil {
			return err
		}
		if !w {
			s.whyNot = "the database role may only read django_session (no DELETE/UPDATE privilege)"
		}
	}
	s.canWrite = s.whyNot == ""
	if s.notify, err = d.notifyInstalled(ctx, s.db); err != nil {
		return err
	}
	return s.openAudit(ctx)
}

// Describe names the site's database for operators, without any password,
// and says what this source can and cannot do.
func (s *Source) Describe() string {
	var notes []string
	if !s.opts.Keys.Usable() {
		notes = append(notes, "no SECRET_KEY: signatures unchecked, extend off")
	}
	if !s.canWrite {
		notes = append(notes, "read-only: "+s.whyNot)
	} else if s.audit == nil {
		notes = append(notes, "actions off: no audit store")
	}
	if s.opts.Engine == EngineCachedDB {
		notes = append(notes, "cached_db: a forced-out session lives on in the site's cache until it expires there")
	}
	if len(notes) == 0 {
		return s.desc
	}
	return s.desc + " (" + strings.Join(notes, "; ") + ")"
}

// Warnings lists, for the dashboard and the CLI, what an operator should
// know before acting: an action this source cannot do, or one whose effect
// is not what it seems (a force-out on cached_db).
func (s *Source) Warnings() []string {
	var w []string
	for _, a := range []string{data.ActionForceLogout, data.ActionExtend} {
		if err := s.Refuse(a); err != nil {
			w = append(w, err.Error())
		}
	}
	if s.opts.Engine == EngineCachedDB {
		w = append(w, CachedDBWarning)
	}
	return w
}

// CachedDBWarning is what a force-out on a cached_db site means.
const CachedDBWarning = "SESSION_ENGINE is cached_db: deleting the row does not remove the site's cached copy " +
	"(cache key django.contrib.sessions.cached_db<session key> in SESSION_CACHE_ALIAS): the holder's requests still " +
	"reach the site's views on it (Django answers 400 after the view, when its save finds the row gone) until the " +
	"cache drops it; delete that cache key too for an immediate logout"

// Ping checks the database is reachable.
func (s *Source) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("django ping: %w", err)
	}
	return nil
}

// Close stops background work and closes the connections.
func (s *Source) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		if s.idx != nil {
			s.idx.wait()
		}
		if s.audit != nil {
			err = errors.Join(err, s.audit.close())
		}
		err = errors.Join(err, s.db.Close())
	})
	return err
}

var keyShape = regexp.MustCompile(`^[a-z0-9]{32}$`)

// CheckID accepts Django's session keys: 32 characters of [a-z0-9]
// (get_random_string(32, VALID_KEY_CHARS)).
func (s *Source) CheckID(id string) error {
	if !keyShape.MatchString(id) {
		return fmt.Errorf("a Django session key is 32 characters of a-z and 0-9, got %d characters", len(id))
	}
	return nil
}

// Refuse says which operator actions this source cannot do, and why.
func (s *Source) Refuse(action string) error {
	switch action {
	case data.ActionForceLogout, data.ActionForceLogoutAll, data.ActionExtend:
	default:
		return fmt.Errorf("%w: %s on a Django site", data.ErrUnsupported, action)
	}
	if !s.canWrite {
		return fmt.Errorf("%w: read-only dashboard: %s", data.ErrUnsupported, s.whyNot)
	}
	if s.audit == nil {
		return fmt.Errorf("%w: no audit store for operator actions: run `sessionmon migrate --source django` "+
			"to create the sessionmon_django_audit table, or give a local audit file", data.ErrUnsupported)
	}
	if action == data.ActionExtend && !s.opts.Keys.Usable() {
		return fmt.Errorf("%w: extend needs the site's SECRET_KEY (from a file or the environment): Django "+
			"recomputes expire_date from the signed session data on the holder's next request, so only a "+
			"re-signed row can carry a longer expiry", data.ErrUnsupported)
	}
	return nil
}

// redactParseError returns a parse error's message without the DSN.
func redactParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "invalid connection string"
}
