package server

// TEMPORARY: a minimal in-memory data.Store, only until data/sqlite lands.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
)

type memStore struct {
	mu       sync.Mutex
	users    map[string]data.User
	sessions map[string]data.Session
	audit    []data.AuditEntry
	nextUser int64
	version  int64
}

func newMemStore() *memStore {
	return &memStore{users: map[string]data.User{}, sessions: map[string]data.Session{}}
}

func (st *memStore) CreateUser(_ context.Context, u data.User, a data.AuditEntry) (data.User, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.users[u.Username]; ok {
		return data.User{}, fmt.Errorf("create user: %w", data.ErrConflict)
	}
	st.nextUser++
	u.ID = st.nextUser
	st.users[u.Username] = u
	st.audit = append(st.audit, a)
	return u, nil
}

func (st *memStore) UserByUsername(_ context.Context, username string) (data.User, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	u, ok := st.users[username]
	if !ok {
		return data.User{}, data.ErrNotFound
	}
	return u, nil
}

func (st *memStore) ListUsers(context.Context) ([]data.User, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var us []data.User
	for _, u := range st.users {
		us = append(us, u)
	}
	slices.SortFunc(us, func(a, b data.User) int { return cmpString(a.Username, b.Username) })
	return us, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (st *memStore) SetUserRole(_ context.Context, username, role string, a data.AuditEntry) (data.User, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	u, ok := st.users[username]
	if !ok {
		return data.User{}, data.ErrNotFound
	}
	u.Role = role
	st.users[username] = u
	return u, nil
}

func (st *memStore) SetUserStatus(context.Context, string, string, data.End, data.AuditEntry) (data.User, int, error) {
	return data.User{}, 0, fmt.Errorf("not implemented")
}

func (st *memStore) SetUserPassword(context.Context, string, string) error {
	return fmt.Errorf("not implemented")
}

func (st *memStore) CreateSession(_ context.Context, s data.Session, replaceID string, a data.AuditEntry) (data.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if old, ok := st.sessions[replaceID]; ok && old.Active(s.LoginTime) {
		st.version++
		old.EndedAt, old.EndReason, old.Version = s.LoginTime, data.EndReplaced, st.version
		st.sessions[replaceID] = old
	}
	st.version++
	s.Version = st.version
	st.sessions[s.ID] = s
	return s, nil
}

func (st *memStore) Touch(_ context.Context, id string, now, expires time.Time) (data.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[id]
	if !ok || !s.Active(now) {
		return data.Session{}, data.ErrNotFound
	}
	st.version++
	s.LastActivity, s.ExpiresAt, s.Version = now, expires, st.version
	st.sessions[id] = s
	return s, nil
}

func (st *memStore) Session(_ context.Context, id string) (data.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[id]
	if !ok {
		return data.Session{}, data.ErrNotFound
	}
	return s, nil
}

func (st *memStore) EndSession(_ context.Context, id string, end data.End, a data.AuditEntry) (data.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[id]
	if !ok {
		return data.Session{}, data.ErrNotFound
	}
	if !s.Active(end.At) {
		return data.Session{}, data.ErrEnded
	}
	st.version++
	s.EndedAt, s.EndReason, s.EndedBy, s.Version = end.At, end.Reason, end.By, st.version
	st.sessions[id] = s
	return s, nil
}

func (st *memStore) EndUserSessions(_ context.Context, userID int64, end data.End, a data.AuditEntry) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for id, s := range st.sessions {
		if s.UserID == userID && s.Active(end.At) {
			st.version++
			s.EndedAt, s.EndReason, s.EndedBy, s.Version = end.At, end.Reason, end.By, st.version
			st.sessions[id] = s
			n++
		}
	}
	return n, nil
}

func (st *memStore) Extend(context.Context, string, time.Duration, time.Time, data.AuditEntry) (data.Session, error) {
	return data.Session{}, fmt.Errorf("not implemented")
}

func (st *memStore) ListActive(_ context.Context, q data.Query) (data.Page, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var p data.Page
	for _, s := range st.sessions {
		if s.Active(q.Now) && (q.Username == "" || s.Username == q.Username) {
			p.Sessions = append(p.Sessions, s)
		}
	}
	return p, nil
}

func (st *memStore) Stats(_ context.Context, q data.StatsQuery) (data.Stats, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out data.Stats
	for _, s := range st.sessions {
		if s.Active(q.Now) {
			out.Active++
		}
	}
	return out, nil
}

func (st *memStore) ChangesSince(context.Context, int64, int) (data.Changes, error) {
	return data.Changes{}, fmt.Errorf("not implemented")
}

func (st *memStore) Purge(context.Context, time.Time, data.AuditEntry) (int64, error) {
	return 0, nil
}

func (st *memStore) AppendAudit(_ context.Context, e data.AuditEntry) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.audit = append(st.audit, e)
	return nil
}

func (st *memStore) Audit(context.Context, data.AuditQuery) ([]data.AuditEntry, error) {
	return nil, nil
}

func (st *memStore) RecentFailures(_ context.Context, q data.FailureQuery) (int64, int64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var byUser, byIP int64
	for _, e := range st.audit {
		if e.Action != data.ActionLoginFailed || e.Time.Before(q.Since) {
			continue
		}
		if e.Username == q.Username {
			byUser++
		}
		if e.IP == q.IP {
			byIP++
		}
	}
	return byUser, byIP, nil
}

func (st *memStore) Ping(context.Context) error { return nil }
func (st *memStore) Describe() string           { return "memory" }
func (st *memStore) Close() error               { return nil }

// closableStore makes the temporary memStore fail after Close, as a real
// store does.
type closableStore struct {
	*memStore
	closed atomic.Bool
}

var errClosed = errors.New("store is closed")

func (c *closableStore) Close() error { c.closed.Store(true); return nil }
func (c *closableStore) err() error {
	if c.closed.Load() {
		return errClosed
	}
	return nil
}
func (c *closableStore) UserByUsername(ctx context.Context, u string) (data.User, error) {
	if err := c.err(); err != nil {
		return data.User{}, err
	}
	return c.memStore.UserByUsername(ctx, u)
}
func (c *closableStore) CreateSession(ctx context.Context, s data.Session, r string, a data.AuditEntry) (data.Session, error) {
	if err := c.err(); err != nil {
		return data.Session{}, err
	}
	return c.memStore.CreateSession(ctx, s, r, a)
}
func (c *closableStore) Touch(ctx context.Context, id string, now, exp time.Time) (data.Session, error) {
	if err := c.err(); err != nil {
		return data.Session{}, err
	}
	return c.memStore.Touch(ctx, id, now, exp)
}
func (c *closableStore) Session(ctx context.Context, id string) (data.Session, error) {
	if err := c.err(); err != nil {
		return data.Session{}, err
	}
	return c.memStore.Session(ctx, id)
}
func (c *closableStore) EndSession(ctx context.Context, id string, e data.End, a data.AuditEntry) (data.Session, error) {
	if err := c.err(); err != nil {
		return data.Session{}, err
	}
	return c.memStore.EndSession(ctx, id, e, a)
}
func (c *closableStore) Stats(ctx context.Context, q data.StatsQuery) (data.Stats, error) {
	if err := c.err(); err != nil {
		return data.Stats{}, err
	}
	return c.memStore.Stats(ctx, q)
}
func (c *closableStore) RecentFailures(ctx context.Context, q data.FailureQuery) (int64, int64, error) {
	if err := c.err(); err != nil {
		return 0, 0, err
	}
	return c.memStore.RecentFailures(ctx, q)
}
func (c *closableStore) Ping(ctx context.Context) error { return c.err() }
func (c *closableStore) SetUserStatus(_ context.Context, username, status string, end data.End, a data.AuditEntry) (data.User, int, error) {
	st := c.memStore
	st.mu.Lock()
	defer st.mu.Unlock()
	u, ok := st.users[username]
	if !ok {
		return data.User{}, 0, data.ErrNotFound
	}
	u.Status = status
	st.users[username] = u
	n := 0
	if status == data.StatusInactive {
		for id, s := range st.sessions {
			if s.UserID == u.ID && s.Active(end.At) {
				s.EndedAt, s.EndReason = end.At, end.Reason
				st.sessions[id] = s
				n++
			}
		}
	}
	return u, n, nil
}

func openStore(t *testing.T) data.Store {
	return &closableStore{memStore: newMemStore()}
}
