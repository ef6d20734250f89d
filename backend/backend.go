// Package backend is the registry of the stores sessionmon can open. It is
// the one place that reads a store's name (the db key: --db, SESSIONMON_DB,
// the config file), decides which kind of store it names or refuses it in
// one line that lists what is accepted, and opens it for what the command
// may do. main asks it; no other package looks at the db text.
//
// The rule is simple enough to say in the README, and it never guesses:
//
//   - postgres:// or postgresql:// (the scheme in any letter case) is a
//     PostgreSQL URL, and text with "=" that is not written as a path is a
//     keyword/value DSN ("host=db user=app dbname=sessions"). pgx's own
//     parser (pgxpool.ParseConfig) then accepts or refuses it, so every form
//     pgx reads is accepted and nothing else.
//   - A path is an SQLite file: absolute, ./ or ../ relative, or any text
//     with neither a scheme nor "=" (sessionmon.db, data/sessions.sqlite3).
//     sqlite:PATH names one explicitly, and file: URIs are read as SQLite
//     reads them (file:data.db, file:///var/lib/sessions.db), without query
//     parameters: sessionmon sets the file's options itself.
//   - Any other scheme (mysql://, redis://, sqlserver://, even host:port) is
//     refused. A file whose name starts with "word:" is written ./word:...
//
// Adding a kind of store means adding one entry to kinds: how its text is
// recognised (Parse), how it is written (Forms, shown when a value is
// refused) and how it opens (Open). A kind whose Open returns a data.Source
// that is not a data.Store, such as a Django site's django_session table,
// serves the dashboard and the sessions commands; OpenStore refuses it for
// the commands that need sessionmon's own tables (serve, users, demo).
package backend

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
)

// Mode says what opening a store may do to it.
type Mode int

const (
	// Existing opens a store that is already there: an SQLite path that
	// does not exist is refused with ErrNoStore rather than created (the
	// dashboard, users and sessions commands: a typo must not show an
	// empty store as live, nor add a user to a new file). A PostgreSQL
	// schema must be current.
	Existing Mode = iota
	// Create may create a new SQLite file, whose schema is made on open
	// (serve). A PostgreSQL schema must be current.
	Create
	// Migrate creates the store if needed and brings its schema up to
	// date (migrate, demo).
	Migrate
)

// Sentinel errors; test with errors.Is.
var (
	// ErrUnknown: the text names no kind of store sessionmon can open.
	ErrUnknown = errors.New("not a store sessionmon can open")
	// ErrNoStore: the store does not exist, and the command may not create it.
	ErrNoStore = errors.New("no store there")
)

// Kind is one kind of store in the registry.
type Kind struct {
	Name  string // short, lower case: "sqlite", "postgres"
	Title string // for people: "SQLite", "PostgreSQL"
	// Forms says how a value of this kind is written, for the line that
	// refuses an unknown one: "an SQLite file path (...)".
	Forms string
	// Parse reports whether db names a store of this kind (claimed) and
	// returns what Open takes (the file path, the DSN). A value it claims
	// but cannot use is an error that says why, and never quotes db, which
	// may hold a password.
	Parse func(db string) (target string, claimed bool, err error)
	// Open opens the store named by target for what mode allows.
	Open func(ctx context.Context, target string, mode Mode) (data.Source, error)
	// Embedded: the store is a local file of this machine, not shared (the
	// demo seeds users with published passwords only into such a store).
	Embedded bool
	// SharedNotices: the source's data.Watcher hears changes committed by
	// other processes, so a dashboard can wait for notices; otherwise its
	// notices cover this process only and a dashboard must poll.
	SharedNotices bool
}

// kinds is the registry, in the order Resolve asks. Each Parse claims a
// disjoint set of values.
var kinds = []*Kind{
	{
		Name:     "sqlite",
		Title:    "SQLite",
		Forms:    "an SQLite file path (sessionmon.db, /var/lib/sessionmon/sessions.db, sqlite:PATH, file:PATH)",
		Parse:    parseSQLite,
		Open:     openSQLite,
		Embedded: true,
	},
	{
		Name:          "postgres",
		Title:         "PostgreSQL",
		Forms:         `a PostgreSQL DSN (postgres://user@host:5432/dbname, or "host=db user=app dbname=sessions")`,
		Parse:         parsePostgres,
		Open:          openPostgres,
		SharedNotices: true,
	},
}

// Kinds lists the registry, in the order Resolve asks.
func Kinds() []*Kind { return kinds }

// Target is a resolved store name: its kind and what that kind opens.
type Target struct {
	Kind   *Kind
	target string
}

// Resolve decides which kind of store db names. An unknown scheme, or a
// value that a kind claims but cannot read, is an error of one line that
// says what is accepted; it never quotes db beyond its scheme.
func Resolve(db string) (Target, error) {
	if strings.TrimSpace(db) == "" {
		return Target{}, unknownError("empty; want " + forms())
	}
	for _, k := range kinds {
		target, claimed, err := k.Parse(db)
		if err != nil {
			return Target{}, err
		}
		if claimed {
			return Target{Kind: k, target: target}, nil
		}
	}
	s, rest, _ := scheme(db) // every value without a scheme is claimed
	msg := fmt.Sprintf("unknown scheme %q; want %s", s+":", forms())
	if !strings.HasPrefix(rest, "//") {
		msg += ` (a file whose name starts with "word:" is written ./word:...)`
	}
	return Target{}, unknownError(msg)
}

// unknownError is a value no kind claims. It matches ErrUnknown.
type unknownError string

func (e unknownError) Error() string        { return string(e) }
func (e unknownError) Is(target error) bool { return target == ErrUnknown }

// forms is every kind's Forms, for a refusal.
func forms() string {
	fs := make([]string, len(kinds))
	for i, k := range kinds {
		fs[i] = k.Forms
	}
	return strings.Join(fs, " or ")
}

// Value is what t's kind opens: the SQLite file's path or the PostgreSQL
// DSN (for a source that reads the same database its own way, such as a
// Django site's tables with --source django).
func (t Target) Value() string { return t.target }

// Open opens the store t names, for what mode allows.
func (t Target) Open(ctx context.Context, mode Mode) (data.Source, error) {
	return t.Kind.Open(ctx, t.target, mode)
}

// OpenStore opens t as sessionmon's own whole store, which the login
// server, the users commands and the demo need. A kind that is only a
// session source is refused.
func (t Target) OpenStore(ctx context.Context, mode Mode) (data.Store, error) {
	src, err := t.Open(ctx, mode)
	if err != nil {
		return nil, err
	}
	st, ok := src.(data.Store)
	if !ok {
		src.Close()
		return nil, fmt.Errorf("%s is a session source, not sessionmon's own store: this command needs sessionmon's users and login tables (%w)", src.Describe(), data.ErrUnsupported)
	}
	return st, nil
}

// schemeRE matches a URI scheme (RFC 3986) of two characters or more: one
// letter is a Windows drive, never a scheme.
var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)

// scheme splits "scheme:rest". Text written as a path never has one.
func scheme(db string) (s, rest string, ok bool) {
	if explicitPath(db) {
		return "", "", false
	}
	m := schemeRE.FindStringSubmatch(db)
	if m == nil {
		return "", "", false
	}
	return m[1], db[len(m[0]):], true
}

// explicitPath reports whether db is written as a file path, whatever else
// it holds (a colon, an "=").
func explicitPath(db string) bool {
	return strings.HasPrefix(db, "/") || strings.HasPrefix(db, "./") || strings.HasPrefix(db, "../")
}

// ---- PostgreSQL ---------------------------------------------------------------

func parsePostgres(db string) (string, bool, error) {
	dsn := db
	if s, rest, ok := scheme(db); ok {
		s = strings.ToLower(s)
		if s != "postgres" && s != "postgresql" {
			return "", false, nil
		}
		if !strings.HasPrefix(rest, "//") {
			return "", true, fmt.Errorf("%s: without //; want a URL like postgres://user@host:5432/dbname", s)
		}
		// URI schemes are case-insensitive; pgx recognises them in lower
		// case only and would read POSTGRES://... as keyword/value.
		dsn = s + ":" + rest
	} else if explicitPath(db) || !strings.Contains(db, "=") {
		return "", false, nil
	}
	if _, err := pgxpool.ParseConfig(dsn); err != nil {
		return "", true, fmt.Errorf("not a PostgreSQL DSN pgx can read: %s", parseProblem(err))
	}
	return dsn, true, nil
}

// parseProblem says what is wrong with a DSN pgx refused, without the DSN:
// pgx's own message quotes it (redacted best-effort only), and a URL
// error quotes the whole URL, password included.
func parseProblem(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "not a URL or keyword/value DSN"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "not a valid URL: " + ue.Err.Error()
	}
	shown := *pe
	shown.ConnString = ""
	msg, _ := strings.CutPrefix(shown.Error(), "cannot parse ``: ")
	return msg
}

func openPostgres(ctx context.Context, dsn string, mode Mode) (data.Source, error) {
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	// Open connects lazily: the check is the first connection. A binary
	// newer than the schema would fail later with obscure "relation does
	// not exist" errors, so say "run sessionmon migrate" now.
	check := st.CheckSchema
	if mode == Migrate {
		check = st.Migrate
	}
	if err := check(ctx); err != nil {
		st.Close()
		return nil, connectError(st.Describe(), err)
	}
	return st, nil
}

// ---- SQLite -------------------------------------------------------------------

func parseSQLite(db string) (string, bool, error) {
	if s, rest, ok := scheme(db); ok {
		switch strings.ToLower(s) {
		case "sqlite":
			if strings.HasPrefix(rest, "//") {
				// sqlite:///x.db is absolute to some tools and relative
				// to others (SQLAlchemy): do not guess.
				return "", true, errors.New(`sqlite://: tools disagree on what it means; write sqlite:PATH, like sqlite:sessions.db or sqlite:/var/lib/sessions.db`)
			}
			if rest == "" {
				return "", true, errors.New("sqlite: names no file; want sqlite:PATH")
			}
			return rest, true, nil
		case "file":
			p, err := fileURIPath(db)
			return p, true, err
		}
		return "", false, nil
	}
	if !explicitPath(db) && strings.Contains(db, "=") {
		return "", false, nil
	}
	return db, true, nil
}

// fileURIPath reads a file: URI the way SQLite does: file:data.db,
// file:/abs/data.db, file:///abs/data.db or file://localhost/abs/data.db,
// with %-escapes.
func fileURIPath(db string) (string, error) {
	u, err := url.Parse(db)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("not a file: URI SQLite can read: %v", err)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(db, "?") {
		return "", errors.New("file: URI parameters are not supported (sessionmon sets the SQLite file's options itself); name the file only")
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("file: URI names host %q; want a local SQLite file, like file:/var/lib/sessions.db", u.Host)
	}
	p := u.Path
	if u.Opaque != "" {
		if p, err = url.PathUnescape(u.Opaque); err != nil {
			return "", fmt.Errorf("not a file: URI SQLite can read: %v", err)
		}
	}
	if p == "" {
		return "", errors.New("file: names no file; want file:PATH")
	}
	return p, nil
}

func openSQLite(ctx context.Context, path string, mode Mode) (data.Source, error) {
	if mode == Existing {
		// Stat before opening: opening creates the file (and its -wal
		// and -shm), which is what a typo must not do.
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, &NoStoreError{Path: path}
		case err != nil:
			return nil, fmt.Errorf("sqlite %s: %w", path, err)
		case fi.IsDir():
			return nil, fmt.Errorf("sqlite %s: is a directory, not an SQLite file", path)
		}
	}
	return sqlite.Open(ctx, path)
}

// NoStoreError is a store that does not exist, for a command that may not
// create one. It matches ErrNoStore.
type NoStoreError struct {
	Path string // as given
}

func (e *NoStoreError) Error() string {
	shown := e.Path
	if abs, err := filepath.Abs(e.Path); err == nil && abs != e.Path {
		shown += " (" + abs + ")"
	}
	return fmt.Sprintf("no SQLite store at %s: the file does not exist; check the path, or create the store with: sessionmon migrate --db %s",
		shown, shellQuote(e.Path))
}

func (e *NoStoreError) Is(target error) bool { return target == ErrNoStore }

// shellQuote returns s as one shell word.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%,=", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
