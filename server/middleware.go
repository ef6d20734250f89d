package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// contentSecurityPolicy allows only this origin's own resources: no inline
// script or style (the pages use /static/style.css and no script at all),
// no plugins, no <base> tricks, forms post only here, and no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// hsts is sent in production only: a development server on plain HTTP
// must not pin browsers to HTTPS for localhost.
const hsts = "max-age=63072000; includeSubDomains"

var (
	cspValue        = []string{contentSecurityPolicy}
	nosniffValue    = []string{"nosniff"}
	denyValue       = []string{"DENY"}
	sameOriginValue = []string{"same-origin"}
	hstsValue       = []string{hsts}
)

// securityHeaders sets the headers every response carries, including
// 404s, 405s, CSRF refusals and recovered panics.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assigned under their canonical names rather than Set: Set
		// allocates a one-element slice per header per request. The
		// slices are shared and never written into (see jsonContentType).
		h := w.Header()
		h["Content-Security-Policy"] = cspValue
		h["X-Content-Type-Options"] = nosniffValue
		h["X-Frame-Options"] = denyValue
		h["Referrer-Policy"] = sameOriginValue
		h["Cross-Origin-Opener-Policy"] = sameOriginValue
		if s.production {
			h["Strict-Transport-Security"] = hstsValue
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler into a logged error and a plain
// 500: the stack goes to the log, never to the client.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel value, compared as net/http does
				panic(v) // the documented way to abort a response; net/http handles it
			}
			s.metrics.panics.Inc()
			s.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw, ok := w.(*statusWriter); ok && sw.wrote {
				return // too late for a clean answer; net/http ends the response
			}
			w.Header().Del("Set-Cookie")
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "Internal server error.", http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}

// instrument records each request's latency (by route pattern and status
// class) and writes the access log line. The route is the ServeMux pattern
// that matched ("GET /login"), which keeps the label set small whatever
// paths clients invent; requests that matched none are "unmatched".
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		route := r.Pattern // set in place by ServeMux on this very request
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(route, status, d)
		level := slog.LevelDebug
		switch {
		case status == http.StatusServiceUnavailable:
			// The store could not answer. storeHealth logs the outage
			// once and counts these; a line each would be ~1,400 a second.
			// A 503 of /healthz is its answer, not a refused request.
			if route != healthzRoute {
				s.health.refusedRequest()
			}
		case status >= 500:
			level = slog.LevelWarn
		}
		// Checked first: the arguments below cost a dozen allocations per
		// request to build, and at the default level nobody reads them.
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		s.log.Log(r.Context(), level, "http request",
			"method", r.Method, "route", route, "path", clip(r.URL.Path, 200),
			"status", status, "duration", d, "bytes", sw.bytes)
	})
}

// statusWriter remembers the status code and whether anything was written.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		if code >= 200 { // 1xx informational headers are not the answer
			w.wrote = true
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clip cuts s to at most n bytes, for logs and redisplayed form values.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
