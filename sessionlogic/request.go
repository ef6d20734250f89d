package sessionlogic

import (
	"context"
	"errors"
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
