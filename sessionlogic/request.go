package sessionlogic

import (
	"context"
	"errors"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"sessionmon/data"
)

// Requests: authenticate-and-touch on every request, and the holder's own
// logout (the login server's side; needs a full Store).

// Authenticate checks a session token and, with save-every-request on,
// slides its expiry and records the activity, in one store round trip.
// Errors: ErrNoSession (the holder must log in again) or ErrUnavailable
// (the store could not answer: fail closed).
func (m *Manager) Authenticate(ctx context.Context, token string) (Session, error) {
	if err := m.loginSide("authenticate"); err != nil {
		return Session{}, err
	}
	if !wellFormed(token) {
		return Session{}, ErrNoSession
	}
	id := HashToken(token)
	now := m.now()
	ctx, cancel := m.bounded(ctx)
	defer cancel()
	var (
		s   Session
		err error
	)
	switch {
	case m.saveEveryRequest && m.touchInterval > 0:
		s, err = m.coalescedTouch(ctx, id, now)
	case m.saveEveryRequest:
		s, err = m.store.Touch(ctx, id, now, now.Add(m.ttl))
	default:
		s, err = m.store.Session(ctx, id)
		if err == nil && !s.Active(now) {
			err = data.ErrNotFound
		}
	}
	switch {
	case errors.Is(err, data.ErrNotFound):
		return Session{}, ErrNoSession
	case err != nil:
		return Session{}, unavailable("authenticate", err)
	}
	return s, nil
}

// coalescedTouch reads the session and writes a touch only when the last
// one is TouchInterval old or more (or the expiry is within TouchInterval),
// so heavy traffic costs reads, not durable writes.
func (m *Manager) coalescedTouch(ctx context.Context, id string, now time.Time) (Session, error) {
	s, err := m.store.Session(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if !s.Active(now) {
		return Session{}, data.ErrNotFound
	}
	if now.Sub(s.LastActivity) < m.touchInterval && s.ExpiresAt.Sub(now) > m.touchInterval {
		return s, nil
	}
	return m.store.Touch(ctx, id, now, now.Add(m.ttl))
}

// Logout ends the session behind token. An unknown, malformed or already
// ended token is not an error: the caller clears the cookie either way.
func (m *Manager) Logout(ctx context.Context, token string) error {
	if err := m.loginSide("logout"); err != nil {
		return err
	}
	if !wellFormed(token) {
		return nil
	}
	id := HashToken(token)
	ctx, cancel := m.bounded(ctx)
	defer cancel()
	now := m.now()
	// No End.By, Actor or Username: the holder is known only by the token,
	// and the store names the session's user in all three (data.Source).
	s, err := m.store.EndSession(ctx, id, data.End{At: now, Reason: data.EndLogout},
		AuditEntry{Time: now, Action: data.ActionLogout, SessionID: id})
	if bad, rest := SplitRowErrors(err); len(bad) > 0 && rest == nil {
		// Ended all the same; the row's other columns could not be read.
		m.log.Warn("logout of a corrupt session row", "session", ShortID(id), "err", err)
		err = nil
	}
	switch {
	case errors.Is(err, data.ErrEnded), errors.Is(err, data.ErrNotFound):
		return nil
	case err != nil:
		return unavailable("logout", err)
	}
	m.obs.Logout()
	m.log.Info("logout", "user", s.Username, "session", ShortID(id))
	return nil
}

// The guard's per-request work on the hot path (issue 11: every
// authenticated request runs it, and on 2 cores its CPU bounds the rate).
// Each helper answers exactly what the general code it stands in for
// answers, and hands over to that code for anything unusual.

// soleTokenCookie is the session token when the request carries exactly
// one Cookie header holding exactly one cookie, the session's, with a
// well-formed token (an API client, a load balancer's check, a tab with no
// other cookies). http.Request.Cookie would return the same value but
// parses into a slice of *http.Cookie first. Anything else: ok is false and
// the caller asks net/http.
func (m *Manager) soleTokenCookie(r *http.Request) (token string, ok bool) {
	lines := r.Header["Cookie"]
	if len(lines) != 1 || strings.IndexByte(lines[0], ';') >= 0 {
		return "", false
	}
	name, val, found := strings.Cut(textproto.TrimString(lines[0]), "=")
	if !found || textproto.TrimString(name) != m.cookie.Name || !httpToken(name) || !wellFormed(val) {
		return "", false
	}
	return val, true
}

// httpToken reports whether s is an RFC 7230 token, the only cookie names
// net/http reads (and writes).
func httpToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// cookieTail is the session cookie as Cookie.String writes it after
// "name=token" (Path, Domain, Expires, Max-Age, flags), for one Expires
// second: the same for every request in that second.
type cookieTail struct {
	expires int64 // Unix second of Expires (0 without Expires)
	tail    string
}

// resendCookie adds the session cookie with a fresh Max-Age/Expires, as
// http.SetCookie(w, m.Cookie(token)) does, without formatting every
// attribute and the date again on every request.
func (m *Manager) resendCookie(w http.ResponseWriter, token string) {
	if !wellFormed(token) {
		// Not a value Cookie.String surely writes unquoted and unchanged.
		http.SetCookie(w, m.Cookie(token))
		return
	}
	now := m.now()
	var key int64
	if !m.cookie.BrowserSession {
		key = now.Add(m.cookie.Age).Unix()
	}
	t := m.resent.Load()
	if t == nil || t.expires != key {
		// "name=" and then the attributes: Cookie.String with an empty value.
		s := m.cookieAt("", now).String()
		if s == "" { // an invalid name: SetCookie would add nothing
			return
		}
		t = &cookieTail{expires: key, tail: s[len(m.cookie.Name)+1:]}
		m.resent.Store(t)
	}
	h := w.Header()
	h["Set-Cookie"] = append(h["Set-Cookie"], m.cookie.Name+"="+token+t.tail)
}

var (
	noStore      = []string{"no-store"}
	varyOnCookie = []string{"Cookie"}
)

// noStoreVaryCookie sets Cache-Control: no-store and adds Vary: Cookie,
// as Header.Set and Header.Add would, without allocating a slice for each.
// The shared slices are never written into: Set replaces a header's slice
// and Add appends, which copies a full slice.
func noStoreVaryCookie(h http.Header) {
	h["Cache-Control"] = noStore
	if len(h["Vary"]) == 0 {
		h["Vary"] = varyOnCookie
	} else {
		h["Vary"] = append(h["Vary"], "Cookie")
	}
}
