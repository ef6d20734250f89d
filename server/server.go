// Package server is sessionmon's companion HTTP login server: a login form,
// logout, a protected welcome page, /api/me, /healthz and /metrics. It holds
// a *sessionlogic.Manager and never touches a store itself, so it enforces
// exactly what the operator's dashboard shows.
//
// Routes:
//
//	GET  /login     the login form (already logged in: redirect to next or /)
//	POST /login     log in; 303 to a local next or /
//	POST /logout    end the session; deletion cookie; 303 to /login
//	GET  /          the welcome page (session required: 302 to /login?next=/)
//	GET  /api/me    the session as JSON (session required: 401 JSON)
//	GET  /healthz   200 {"status":"ok"} when the store can read and write, else 503
//	GET  /livez     200 while the process serves HTTP (no store involved)
//	GET  /metrics   Prometheus metrics
//	GET  /static/   the stylesheet
//
// Every response carries the security headers (CSP, nosniff, frame denial,
// referrer policy; HSTS in production). A request whose Host is not in
// Options.AllowedHosts gets 400 (DNS rebinding), except the health checks.
// Every state-changing request passes http.CrossOriginProtection first, on
// top of the SameSite=Lax cookie.
//
// Wiring, in this order: the metrics are the Manager's Observer, so they
// exist before it; the Server then serves them.
//
//	metrics, err := server.NewMetrics(nil)
//	mgr, err := sessionlogic.New(sessionlogic.Options{Store: st, Observer: metrics, ...})
//	srv, err := server.New(server.Options{Manager: mgr, Metrics: metrics, Logger: log})
//	defer srv.Close()
//	err = server.ListenAndServe(ctx, addr, srv.Handler(), log) // returns when ctx is cancelled
//
// Health. /healthz is the endpoint for load balancers and readiness probes:
// it answers 200 only when the store answers a read (Ping) and commits a
// write (data.WriteProber, when the store has it: Options.WriteProber), so
// a replica on a read-only or full store leaves rotation. Probes are shared
// and cached for a second (see storeHealth). /livez is for liveness probes:
// restarting a process does not fix its database, so it never asks the
// store.
package server

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sessionmon/data"
	"sessionmon/sessionlogic"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	// Manager is the session domain (required).
	Manager *sessionlogic.Manager
	// Logger receives the access log (debug), errors and recovered panics.
	// Default slog.Default().
	Logger *slog.Logger
	// TrustProxyHeaders believes X-Forwarded-For for the client IP (used
	// for login throttling and the session record). Set it only behind a
	// proxy that overwrites the header, or clients can pick their own IP.
	TrustProxyHeaders bool
	// Production adds Strict-Transport-Security and requires a Secure
	// session cookie (the __Host- prefix is recommended).
	Production bool
	// Metrics are the Prometheus metrics, served at /metrics. Pass the same
	// *Metrics as sessionlogic.Options.Observer so domain events are counted
	// (see NewMetrics). Nil: New makes its own, and then only the HTTP and
	// active-session metrics move.
	Metrics *Metrics
	// AllowedHosts are the Host names served (Django's ALLOWED_HOSTS
	// patterns: "name", ".domain" for it and its subdomains, "*" for any);
	// any other Host gets 400, except on /healthz and /livez. Empty means
	// LoopbackHosts; see DefaultAllowedHosts for a listen address.
	AllowedHosts []string
	// TrustedOrigins are origins ("https://sessions.example.com") whose
	// cross-origin POSTs are accepted: the public origin behind a proxy that
	// rewrites Host, for browsers that send no Sec-Fetch-Site.
	TrustedOrigins []string
	// WriteProber, when set, is asked by /healthz to commit a write as well
	// as the Manager's Ping (pass the store when it implements
	// data.WriteProber). Nil: /healthz checks reads only.
	WriteProber data.WriteProber
}

// Server is the login server. Its Handler is safe for concurrent use.
type Server struct {
	mgr        *sessionlogic.Manager
	log        *slog.Logger
	trustProxy bool
	production bool
	metrics    *Metrics
	health     *storeHealth
	hosts      *hostPolicy
	hostLog    *hostRefusals
	cop        *http.CrossOriginProtection
	pages      map[string]*template.Template
	handler    http.Handler
}

// New builds a Server. It refuses cookie settings a browser would reject
// or that are unsafe in production.
func New(opts Options) (*Server, error) {
	if opts.Manager == nil {
		return nil, errors.New("server: Options.Manager is required")
	}
	s := &Server{
		mgr:        opts.Manager,
		log:        opts.Logger,
		trustProxy: opts.TrustProxyHeaders,
		production: opts.Production,
		metrics:    opts.Metrics,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.health = newStoreHealth(storeProbe(s.mgr, opts.WriteProber), s.log)
	hosts, err := newHostPolicy(opts.AllowedHosts)
	if err != nil {
		return nil, err
	}
	s.hosts = hosts
	s.hostLog = &hostRefusals{log: s.log, allowed: hosts.shown}
	s.cop = http.NewCrossOriginProtection()
	s.cop.SetDenyHandler(http.HandlerFunc(s.crossOriginRefused))
	for _, o := range opts.TrustedOrigins {
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		if err := s.cop.AddTrustedOrigin(norm); err != nil {
			return nil, fmt.Errorf("server: trusted origin %q: %w", o, err)
		}
	}
	if err := checkCookie(s.mgr.Cookie(""), s.production); err != nil {
		return nil, err
	}
	if s.metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, fmt.Errorf("server: metrics: %w", err)
		}
		s.metrics = m
	}
	if err := s.metrics.attach(s.mgr, s.log); err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.handler = s.routes()
	return s, nil
}

// checkCookie refuses session cookie settings that would silently break
// logins (browsers drop a __Host- cookie that is not Secure, Path=/ and
// host-only) or leak the session over plain HTTP in production.
func checkCookie(c *http.Cookie, production bool) error {
	switch {
	case strings.HasPrefix(c.Name, "__Host-") && (!c.Secure || c.Path != "/" || c.Domain != ""):
		return fmt.Errorf("server: cookie %q: the __Host- prefix needs Secure, Path=/ and no Domain", c.Name)
	case strings.HasPrefix(c.Name, "__Secure-") && !c.Secure:
		return fmt.Errorf("server: cookie %q: the __Secure- prefix needs Secure", c.Name)
	case production && !c.Secure:
		return fmt.Errorf("server: cookie %q: production needs a Secure session cookie", c.Name)
	}
	return nil
}

// storeProbe is what /healthz asks: a read, then (when the store can) a
// committed write.
func storeProbe(m *sessionlogic.Manager, w data.WriteProber) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := m.Ping(ctx); err != nil {
			return err
		}
		if w == nil {
			return nil
		}
		if err := w.ProbeWrite(ctx); err != nil {
			return fmt.Errorf("%w: %w", sessionlogic.ErrUnavailable, err)
		}
		return nil
	}
}

// Close stops the background work of the Server (the watch that notices a
// store's recovery during an outage). The Handler keeps answering.
func (s *Server) Close() { s.health.close() }

// Handler returns the server's handler: routes wrapped in instrumentation,
// panic recovery, security headers and cross-origin protection.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the server's metrics (the ones passed in Options, or its own).
func (s *Server) Metrics() *Metrics { return s.metrics }

// healthzRoute is the pattern of the load balancer's health check.
const healthzRoute = "GET /healthz"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.Handle("GET /{$}", s.mgr.RequireSession(http.HandlerFunc(s.welcome)))
	mux.Handle("GET /api/me", s.mgr.RequireSessionAJAX(http.HandlerFunc(s.me)))
	mux.HandleFunc(healthzRoute, s.healthz)
	mux.HandleFunc("GET /livez", s.livez)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(3600, http.FileServerFS(static))))
	return s.chain(mux)
}

// chain wraps h in the middleware every route shares, outermost first:
// instrument (sees the final status, including recovered panics), recover,
// security headers (so refusals and 500s carry them too), the Host check
// (DNS rebinding), CSRF.
func (s *Server) chain(h http.Handler) http.Handler {
	return s.instrument(s.recoverPanics(s.securityHeaders(s.checkHost(s.cop.Handler(h)))))
}

func cacheFor(seconds int, h http.Handler) http.Handler {
	v := fmt.Sprintf("public, max-age=%d", seconds)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		h.ServeHTTP(w, r)
	})
}

// crossOriginRefused answers a state-changing request that another site
// made the browser send (CSRF): 403, nothing done.
func (s *Server) crossOriginRefused(w http.ResponseWriter, r *http.Request) {
	s.log.Info("cross-origin request refused", "method", r.Method, "path", clip(r.URL.Path, 200),
		"origin", clip(r.Header.Get("Origin"), 200), "sec_fetch_site", clip(r.Header.Get("Sec-Fetch-Site"), 40))
	s.renderMessage(w, http.StatusForbidden, "Request refused",
		"This request came from another site, so it was refused. Open the login page on this site and try again.")
}
