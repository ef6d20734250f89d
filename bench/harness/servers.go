package harness

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sessionmon/data"
	"sessionmon/server"
	"sessionmon/sessionlogic"
)

func init() { gob.Register(time.Time{}) }

// Quiet is a logger that drops everything below Warn (the access log is Debug).
var Quiet = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))

// Running is a server on a loopback listener.
type Running struct {
	URL    string // base URL, e.g. http://127.0.0.1:41234
	Cookie string // session cookie name
	stop   context.CancelFunc
	done   chan error
}

// Stop shuts the server down and waits for it.
func (r *Running) Stop() error {
	r.stop()
	return <-r.done
}

func serve(h http.Handler, cookie string) (*Running, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{URL: "http://" + ln.Addr().String(), Cookie: cookie, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- server.Serve(ctx, ln, h, Quiet) }()
	return r, nil
}

// TouchInterval is session.touch_interval for NewManager: 0 (the default,
// and the headline figures) writes on every request; compare's
// -touch-interval sets it for the secondary, coalesced figure.
var TouchInterval time.Duration

// NewManager is the Manager `sessionmon serve` builds by default:
// save-every-request on, 14-day cookie age, no coalescing (unless
// TouchInterval is set).
func NewManager(st data.Store) (*sessionlogic.Manager, error) {
	return sessionlogic.New(sessionlogic.Options{Store: st, SaveEveryRequest: true, TouchInterval: TouchInterval, Logger: Quiet})
}

// StartSessionmon runs sessionmon's real login server (server.New on a
// Manager with save-every-request on) over st on a loopback listener,
// behind server.Serve (the same http.Server settings as `sessionmon serve`).
func StartSessionmon(st data.Store) (*Running, *sessionlogic.Manager, error) {
	m, err := NewManager(st)
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.New(server.Options{Manager: m, Logger: Quiet})
	if err != nil {
		return nil, nil, err
	}
	r, err := serve(srv.Handler(), m.CookieName())
	return r, m, err
}

// The peer: github.com/alexedwards/scs/v2 with its pgxstore on the same
// PostgreSQL. Its table is the one pgxstore documents.
const peerSchema = `CREATE TABLE sessions (
	token TEXT PRIMARY KEY,
	data BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);`

// PeerIdle is the peer's IdleTimeout: the same sliding 14 days sessionmon
// uses; Lifetime (scs's absolute limit) is set well past it.
const PeerIdle = 14 * 24 * time.Hour

// SeedPeer creates the pgxstore table in the schema and n sessions holding
// the same user fields sessionmon keeps (gob-encoded by scs's codec, as scs
// itself writes them), and returns their tokens.
func SeedPeer(ctx context.Context, s *Schema, n int) ([]string, error) {
	conn, err := s.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, peerSchema); err != nil {
		return nil, fmt.Errorf("peer schema: %w", err)
	}
	now := time.Now().UTC()
	tokens := make([]string, n)
	rows := make([][]any, n)
	for i := range tokens {
		tokens[i] = sessionlogic.NewToken() // same shape as scs's own tokens (32 random bytes, base64url)
		b, err := scs.GobCodec{}.Encode(now.Add(90*24*time.Hour), map[string]any{
			"user": "bench", "user_id": int64(1), "user_email": "bench@example.com", "user_name": "Bench User",
			"user_role": Roles[i%len(Roles)], "user_status": "active",
			"login_time": now, "last_activity": now, "ip": "127.0.0.1", "user_agent": "sessionmon-bench",
		})
		if err != nil {
			return nil, err
		}
		rows[i] = []any{tokens[i], b, now.Add(PeerIdle)}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"sessions"}, []string{"token", "data", "expiry"}, pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("peer seed: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE sessions")
	return tokens, err
}

type peerMe struct {
	User         string    `json:"user"`
	UserID       int64     `json:"user_id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	Status       string    `json:"status"`
	LoginTime    time.Time `json:"login_time"`
	LastActivity time.Time `json:"last_activity"`
	ExpiresAt    time.Time `json:"expires_at"`
	IP           string    `json:"ip"`
}

// StartPeer runs the scs server: LoadAndSave with IdleTimeout 14 days,
// GET /api/me reads the user fields from the session and writes
// last_activity on every request (so every request commits), 401 JSON
// without a session. Its pool has maxConns connections.
func StartPeer(ctx context.Context, s *Schema, maxConns int32) (*Running, func(), error) {
	cfg, err := pgxpool.ParseConfig(s.DSN)
	if err != nil {
		return nil, nil, err
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	sm := scs.New()
	sm.Store = pgxstore.NewWithCleanupInterval(pool, 0)
	sm.IdleTimeout = PeerIdle
	sm.Lifetime = 90 * 24 * time.Hour
	sm.Cookie.Name = "sessionid"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Persist = true

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Add("Vary", "Cookie")
		if !sm.Exists(ctx, "user_id") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"authentication required"}`+"\n")
			return
		}
		now := time.Now().UTC()
		sm.Put(ctx, "last_activity", now)
		b, _ := json.Marshal(peerMe{
			User: sm.GetString(ctx, "user"), UserID: sm.GetInt64(ctx, "user_id"), Email: sm.GetString(ctx, "user_email"),
			Name: sm.GetString(ctx, "user_name"), Role: sm.GetString(ctx, "user_role"), Status: sm.GetString(ctx, "user_status"),
			LoginTime: sm.GetTime(ctx, "login_time"), LastActivity: now, ExpiresAt: now.Add(PeerIdle), IP: sm.GetString(ctx, "ip"),
		})
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(append(b, '\n'))
	})
	r, err := serve(sm.LoadAndSave(mux), sm.Cookie.Name)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return r, pool.Close, nil
}
