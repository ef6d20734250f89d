package sessionlogic

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

type ctxKey struct{}

// FromContext returns the session that RequireSession or
// RequireSessionAJAX attached to the request's context.
func FromContext(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(Session)
	return s, ok
}

// WithSession returns ctx carrying s, as the guards hand it to handlers.
func WithSession(ctx context.Context, s Session) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// RequireSession guards pages: without a valid session it redirects (302)
// to the login page with the requested path in ?next=; when the store cannot
// answer it fails closed with 503. With a session it re-sends the cookie
// with a fresh Max-Age, puts the session in the context and calls next.
func (m *Manager) RequireSession(next http.Handler) http.Handler {
	return m.guard(next, func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, ErrNoSession) {
			target := m.loginURL + "?next=" + url.QueryEscape(r.URL.RequestURI())
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
		w.Header().Set("Retry-After", "5")
		http.Error(w, "Service temporarily unavailable: the session store cannot be reached. Try again shortly.", http.StatusServiceUnavailable)
	})
}

// RequireSessionAJAX guards API endpoints: 401 JSON {"error": ...} without a
// valid session, 503 JSON when the store cannot answer.
func (m *Manager) RequireSessionAJAX(next http.Handler) http.Handler {
	return m.guard(next, func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, ErrNoSession) {
			WriteJSONError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		w.Header().Set("Retry-After", "5")
		WriteJSONError(w, http.StatusServiceUnavailable, "session store unavailable")
	})
}

func (m *Manager) guard(next http.Handler, refuse func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Responses that depend on the session must never be cached or shared.
		noStoreVaryCookie(w.Header())
		token, present := m.tokenFromRequest(r)
		if !present {
			refuse(w, r, ErrNoSession)
			return
		}
		s, err := m.Authenticate(r.Context(), token) // bounded by StoreTimeout inside
		if err != nil {
			if errors.Is(err, ErrNoSession) {
				// A stale, unknown or malformed cookie is deleted, so the
				// browser stops sending it.
				http.SetCookie(w, m.ClearCookie())
			} else {
				// Debug only: during an outage every request lands here,
				// and the login server logs the outage once with its
				// cause and a count of refusals (server.storeHealth).
				m.log.Debug("authenticate", "err", err, "path", r.URL.Path)
			}
			refuse(w, r, err)
			return
		}
		if m.saveEveryRequest {
			m.resendCookie(w, token)
		}
		next.ServeHTTP(w, r.WithContext(WithSession(r.Context(), s)))
	})
}

// WriteJSONError answers {"error": msg} with status.
func WriteJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// ClientIP returns the client's IP address. X-Forwarded-For is believed
// only when trustProxy is set (behind a proxy that overwrites it);
// otherwise a client could claim any address and dodge the IP throttle.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return clip(r.RemoteAddr, 64)
	}
	return host
}

// SessionToken returns the session cookie's value from r ("" when absent).
// Login passes it as OldToken; logout ends the session behind it.
func (m *Manager) SessionToken(r *http.Request) string {
	t, _ := m.tokenFromRequest(r)
	return t
}
