package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sessionmon/sessionlogic"
)

// maxFormBytes bounds a login form body. A real form is well under 1 KiB.
const maxFormBytes = 16 << 10

// storeRetryAfter is the Retry-After sent with a 503.
const storeRetryAfter = "5"

// Messages shown on the login form.
const (
	msgInvalid     = "Invalid username or password."
	msgMissing     = "Enter both a username and a password."
	msgTooLarge    = "The form is too large. Enter only a username and a password."
	msgBadForm     = "The form could not be read. Please try again."
	msgUnavailable = "Login is temporarily unavailable. Please try again in a moment."
)

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "welcome", "message"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("server: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so a template failure is a
// clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := s.pages[page].Execute(&buf, data); err != nil {
		s.log.Error("render page", "page", page, "err", err)
		http.Error(w, "Internal server error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messagePage struct {
	Title   string
	Message string
}

func (s *Server) renderMessage(w http.ResponseWriter, status int, title, msg string) {
	s.render(w, status, "message", messagePage{Title: title, Message: msg})
}

type loginPage struct {
	Title    string
	Username string
	Next     string
	Error    string
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, username, next, msg string) {
	s.render(w, status, "login", loginPage{
		Title:    "Log in",
		Username: clip(strings.TrimSpace(username), 150), // never the password
		Next:     sessionlogic.SafeNext(next, ""),
		Error:    msg,
	})
}

// loginForm is GET /login. A visitor who already holds a valid session is
// sent on to next (or /) instead of being shown the form again.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if token := s.mgr.SessionToken(r); token != "" {
		// The Manager bounds each store call (sessionlogic.Options.StoreTimeout).
		_, err := s.mgr.Authenticate(r.Context(), token)
		switch {
		case err == nil:
			w.Header().Set("Cache-Control", "no-store")
			http.SetCookie(w, s.mgr.Cookie(token)) // it was just touched: slide the cookie too
			http.Redirect(w, r, sessionlogic.SafeNext(next, "/"), http.StatusSeeOther)
			return
		case errors.Is(err, sessionlogic.ErrNoSession):
			http.SetCookie(w, s.mgr.ClearCookie()) // a dead cookie: stop the browser sending it
		default:
			// The store is down: show the form anyway; posting it will say
			// so. Outages are logged once by storeHealth, not per request.
			s.log.Debug("login page: check session", "err", err)
		}
	}
	s.renderLogin(w, http.StatusOK, "", next, "")
}

// login is POST /login.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.Header().Set("Connection", "close") // do not read the rest of an oversized body
			s.renderLogin(w, http.StatusRequestEntityTooLarge, "", "", msgTooLarge)
			return
		}
		s.renderLogin(w, http.StatusBadRequest, "", "", msgBadForm)
		return
	}
	// Credentials only from the body: a password in the URL would end up in
	// logs and browser history.
	username := r.PostForm.Get("username")
	password := r.PostForm.Get("password")
	next := r.PostForm.Get("next")
	if next == "" {
		next = r.URL.Query().Get("next")
	}
	if strings.TrimSpace(username) == "" || password == "" {
		s.renderLogin(w, http.StatusBadRequest, username, next, msgMissing)
		return
	}

	// No deadline around Login as a whole: under load the bcrypt check
	// queues for CPU, and a healthy store must not turn that into a 503.
	// The Manager bounds each store call (sessionlogic.Options.StoreTimeout).
	token, _, err := s.mgr.Login(r.Context(), sessionlogic.LoginRequest{
		Username:  username,
		Password:  password,
		IP:        sessionlogic.ClientIP(r, s.trustProxy),
		UserAgent: r.UserAgent(),
		OldToken:  s.mgr.SessionToken(r), // ended as "replaced", never adopted
	})
	var throttled *sessionlogic.ThrottledError
	switch {
	case err == nil:
		w.Header().Set("Cache-Control", "no-store")
		http.SetCookie(w, s.mgr.Cookie(token))
		http.Redirect(w, r, sessionlogic.SafeNext(next, "/"), http.StatusSeeOther)
	case errors.Is(err, sessionlogic.ErrInvalidCredentials):
		s.renderLogin(w, http.StatusUnauthorized, username, next, msgInvalid)
	case errors.Is(err, sessionlogic.ErrInactive):
		s.renderLogin(w, http.StatusForbidden, username, next, "This account is inactive. Contact your administrator.")
	case errors.As(err, &throttled):
		secs := int(math.Ceil(throttled.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		s.renderLogin(w, http.StatusTooManyRequests, username, next,
			"Too many failed attempts. Try again in "+humanDuration(time.Duration(secs)*time.Second)+".")
	case errors.Is(err, sessionlogic.ErrInvalidInput):
		s.renderLogin(w, http.StatusBadRequest, username, next, msgMissing)
	default:
		s.logStoreError("login", err)
		w.Header().Set("Retry-After", storeRetryAfter)
		s.renderLogin(w, http.StatusServiceUnavailable, username, next, msgUnavailable)
	}
}

// logout is POST /logout. It fails closed: when the store cannot be
// reached it answers 503 and keeps the cookie, because clearing it would
// tell the user they are logged out while the session stays valid on the
// server (a copied cookie would keep working), and would take away the
// browser's only handle for trying again. The deletion cookie is sent when
// the session really ended, or when there was none to end (no cookie, a
// malformed, unknown, expired or already ended one).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := s.mgr.Logout(r.Context(), s.mgr.SessionToken(r)); err != nil {
		s.logStoreError("logout", err)
		w.Header().Set("Retry-After", storeRetryAfter)
		s.renderMessage(w, http.StatusServiceUnavailable, "Logout not completed",
			"The session store cannot be reached, so you are still logged in. Please try again in a moment.")
		return
	}
	http.SetCookie(w, s.mgr.ClearCookie())
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// logStoreError logs an error that made a request answer 503. A store
// outage is logged by storeHealth (once, with its cause, then a count), so
// here only at debug level; anything else is an error worth a line each.
func (s *Server) logStoreError(op string, err error) {
	if errors.Is(err, sessionlogic.ErrUnavailable) {
		s.log.Debug(op, "err", err)
		return
	}
	s.log.Error(op, "err", err)
}

type welcomePage struct {
	Title    string
	S        sessionlogic.Session
	Name     string
	TimeLeft string
}

// welcome is GET / (behind RequireSession).
func (s *Server) welcome(w http.ResponseWriter, r *http.Request) {
	sess, ok := sessionlogic.FromContext(r.Context())
	if !ok { // only reachable if the route loses its guard: fail closed
		http.Redirect(w, r, "/login", http.StatusFound)
		return
	}
	name := sess.FullName
	if name == "" {
		name = sess.Username
	}
	s.render(w, http.StatusOK, "welcome", welcomePage{
		Title:    "Welcome",
		S:        sess,
		Name:     name,
		TimeLeft: humanDuration(sess.ExpiresAt.Sub(s.mgr.Now())),
	})
}

// me is GET /api/me (behind RequireSessionAJAX).
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	sess, ok := sessionlogic.FromContext(r.Context())
	if !ok {
		sessionlogic.WriteJSONError(w, http.StatusUnauthorized, "authentication required")
		return
	}
	writeFields(w, http.StatusOK, sessionlogic.FieldsOf(sess))
}

// healthz is GET /healthz: can the session store read and write? The
// answer may be up to healthTTL old (see storeHealth); the state changes
// are logged there, not each refusal here.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := s.health.check(r.Context()); err != nil {
		w.Header().Set("Retry-After", storeRetryAfter)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"status": "unavailable", "error": "session store unavailable",
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// livez is GET /livez: the process serves HTTP. It never asks the store,
// so a liveness probe does not restart replicas because the database is
// down (which a restart cannot fix).
func (s *Server) livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		sessionlogic.WriteJSONError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// humanDuration renders a time left like "13d 23h 59m", "5m 3s" or "expired".
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return "expired"
	}
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	sec := (d - m*time.Minute) / time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0 && sec == 0:
		return fmt.Sprintf("%dm", m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, sec)
	default:
		return fmt.Sprintf("%ds", sec)
	}
}
