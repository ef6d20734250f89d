package sessionlogic

import (
	"context"
	"fmt"
	"time"

	"sessionmon/data"
)

// The operator's side: listings, stats, changes, audit, force-logout,
// extend and change notices, on any data.Source; and purge, on a Store.

// ForceLogout ends one session now, on an operator's order. The holder's
// next request is refused. Errors: ErrInvalidInput, ErrNotFound, ErrEnded.
func (m *Manager) ForceLogout(ctx context.Context, operator, id string) (Session, error) {
	if err := m.checkID(id); err != nil {
		return Session{}, err
	}
	if err := m.Refuse(data.ActionForceLogout); err != nil {
		return Session{}, fmt.Errorf("force logout %s: %w", ShortID(id), err)
	}
	now := m.now()
	// The store names the session's user in the audit entry from the row
	// it ends: no read first.
	s, err := m.src.EndSession(ctx, id, data.End{At: now, Reason: data.EndForced, By: operator},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionForceLogout, SessionID: id})
	if err != nil {
		return Session{}, fmt.Errorf("force logout %s: %w", ShortID(id), err)
	}
	m.obs.ForcedLogout(1)
	m.log.Info("force logout", "operator", operator, "user", s.Username, "session", ShortID(id))
	return s, nil
}

// ForceLogoutUser ends every active session of a user and returns how many.
func (m *Manager) ForceLogoutUser(ctx context.Context, operator, username string) (int, error) {
	if err := m.Refuse(data.ActionForceLogoutAll); err != nil {
		return 0, fmt.Errorf("force logout user %q: %w", clip(username, maxUsernameLen), err)
	}
	u, err := m.src.UserByUsername(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("force logout user %q: %w", clip(username, maxUsernameLen), err)
	}
	now := m.now()
	n, err := m.src.EndUserSessions(ctx, u.ID, data.End{At: now, Reason: data.EndForced, By: operator},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionForceLogoutAll, Username: u.Username})
	if err != nil {
		return 0, fmt.Errorf("force logout user %q: %w", u.Username, err)
	}
	m.obs.ForcedLogout(n)
	m.log.Info("force logout user", "operator", operator, "user", u.Username, "sessions", n)
	return n, nil
}

// ForceLogoutMany ends the given sessions now, on an operator's order (the
// dashboard's marked sessions), in one store transaction with one audit
// entry per session ended. A repeated id counts once. Sessions that had
// already ended (Already, with who ended them where the source keeps that)
// or that the source no longer has (Missing) are reported in the result,
// not as errors. Errors: ErrInvalidInput for any malformed id or more than
// MaxListLimit ids (nothing ended), ErrUnsupported when the source refuses
// force-outs. A corrupt row is ended all the same: its *RowError comes back
// with the result (see SplitRowErrors).
func (m *Manager) ForceLogoutMany(ctx context.Context, operator string, ids []string) (EndResult, error) {
	if len(ids) > MaxListLimit {
		return EndResult{}, fmt.Errorf("%w: %d sessions at once: at most %d", ErrInvalidInput, len(ids), MaxListLimit)
	}
	uniq := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := m.checkID(id); err != nil {
			return EndResult{}, err
		}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	if err := m.Refuse(data.ActionForceLogout); err != nil {
		return EndResult{}, fmt.Errorf("force logout %d sessions: %w", len(uniq), err)
	}
	if len(uniq) == 0 {
		return EndResult{}, nil
	}
	now := m.now()
	res, err := m.src.EndSessions(ctx, uniq, data.End{At: now, Reason: data.EndForced, By: operator},
		AuditEntry{Time: now, Actor: operator, Action: data.ActionForceLogout})
	if _, rest := SplitRowErrors(err); rest != nil {
		return EndResult{}, fmt.Errorf("force logout %d sessions: %w", len(uniq), err)
	}
	m.obs.ForcedLogout(len(res.Ended))
	m.log.Info("force logout many", "operator", operator,
		"ended", len(res.Ended), "already", len(res.Already), "missing", len(res.Missing))
	return res, err
}

// MaxExtend bounds one Extend, so a typo cannot make a session immortal.
const MaxExtend = 366 * 24 * time.Hour

// Extend moves an active session's expiry later by d. It never revives an
// ended or expired session (ErrEnded) and never passes the absolute limit
// (ErrBeyondLimit).
func (m *Manager) Extend(ctx context.Context, operator, id string, d time.Duration) (Session, error) {
	if err := m.checkID(id); err != nil {
		return Session{}, err
	}
	if d <= 0 || d > MaxExtend {
		return Session{}, fmt.Errorf("%w: extend by %s: want a duration above 0 and at most %s", ErrInvalidInput, d, MaxExtend)
	}
	if err := m.Refuse(data.ActionExtend); err != nil {
		return Session{}, fmt.Errorf("extend %s: %w", ShortID(id), err)
	}
	now := m.now()
	// The store names the session's user in the audit entry.
	s, err := m.src.Extend(ctx, id, d, now, AuditEntry{
		Time: now, Actor: operator, Action: data.ActionExtend, SessionID: id,
		Detail: "by " + d.String(),
	})
	if err != nil {
		return Session{}, fmt.Errorf("extend %s by %s: %w", ShortID(id), d, err)
	}
	m.log.Info("extend", "operator", operator, "user", s.Username, "session", ShortID(id), "by", d, "expires", s.ExpiresAt)
	return s, nil
}

// Session returns one session in any state.
func (m *Manager) Session(ctx context.Context, id string) (Session, error) {
	if err := m.checkID(id); err != nil {
		return Session{}, err
	}
	return m.src.Session(ctx, id)
}

// ListQuery selects active sessions for an operator.
type ListQuery struct {
	Username string
	Role     string
	IP       string // exact
	// Text is a substring of username, name, email, role or IP, and may
	// hold exact terms user:NAME, ip:ADDR, role:NAME (filter.go).
	Text  string
	Sort  SortKey
	Desc  bool
	Limit int // 1..MaxListLimit; 0 means 100
	After *Cursor
}

// MaxListLimit bounds one page of Active.
const MaxListLimit = 10000

// Active lists active sessions, one keyset page at a time.
func (m *Manager) Active(ctx context.Context, q ListQuery) (Page, error) {
	if q.Sort == "" {
		q.Sort = SortExpires
	}
	if !q.Sort.Valid() {
		return Page{}, fmt.Errorf("%w: sort %q: want one of %v", ErrInvalidInput, clip(string(q.Sort), 40), SortKeys)
	}
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return Page{}, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalidInput, q.Limit, MaxListLimit)
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if len(q.Text) > maxFilterLen {
		return Page{}, fmt.Errorf("%w: filter text is longer than %d characters", ErrInvalidInput, maxFilterLen)
	}
	if err := q.resolve(); err != nil {
		return Page{}, err
	}
	return m.src.ListActive(ctx, data.Query{
		Now: m.now(), Username: q.Username, Role: q.Role, IP: q.IP, Text: q.Text,
		Sort: q.Sort, Desc: q.Desc, Limit: q.Limit, After: q.After,
	})
}

// Stats are the operator's headline counts: active sessions, by role,
// expiring within the hour, logins in the last five minutes.
func (m *Manager) Stats(ctx context.Context) (Stats, error) {
	return m.src.Stats(ctx, data.StatsQuery{Now: m.now(), ExpiryWindow: time.Hour, LoginWindow: 5 * time.Minute})
}

// Changes returns sessions written after version since, at most limit.
func (m *Manager) Changes(ctx context.Context, since int64, limit int) (Changes, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = 1000
	}
	return m.src.ChangesSince(ctx, since, limit)
}

// Audit lists audit entries, newest first.
func (m *Manager) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if q.Limit <= 0 || q.Limit > MaxListLimit {
		q.Limit = 100
	}
	return m.src.Audit(ctx, q)
}

// Purge deletes sessions that ended or expired more than the retention
// period ago (Django's clearsessions) and returns how many.
func (m *Manager) Purge(ctx context.Context, operator string) (int64, error) {
	if err := m.loginSide("purge"); err != nil {
		return 0, err
	}
	now := m.now()
	before := now.Add(-m.retention)
	n, err := m.store.Purge(ctx, before, AuditEntry{
		Time: now, Actor: operator, Action: data.ActionPurge, Detail: "ended or expired before " + before.Format(time.RFC3339),
	})
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	if n > 0 {
		m.log.Info("purge", "operator", operator, "deleted", n)
	}
	return n, nil
}

// RunPurger purges every interval until ctx is done. Failures are logged
// and retried at the next tick.
func (m *Manager) RunPurger(ctx context.Context, interval time.Duration) {
	if interval <= 0 || m.store == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := m.Purge(ctx, "purger"); err != nil && ctx.Err() == nil {
			m.log.Error("periodic purge", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CanWatch reports whether the store pushes change notices: PostgreSQL's
// come from every process, SQLite's from this process only.
func (m *Manager) CanWatch() bool {
	_, ok := m.src.(data.Watcher)
	return ok
}

// Watch calls notify soon after any process logs a session in, ends one or
// extends one, when the store can push such notices (see CanWatch), until
// ctx is done. The dashboard refreshes on a notice and keeps polling as the
// fallback. Without a Watcher store it returns ErrInvalidInput at once.
func (m *Manager) Watch(ctx context.Context, notify func()) error {
	w, ok := m.src.(data.Watcher)
	if !ok {
		return fmt.Errorf("%w: %s cannot push change notices; poll instead", ErrInvalidInput, m.src.Describe())
	}
	return w.Watch(ctx, notify)
}
