package sessionlogic

import "time"

// Fields is a session as the JSON outputs show it (GET /api/me, `sessions
// list --json`), under Django's session keys, so one client reads both.
type Fields struct {
	ID           string         `json:"id,omitempty"` // the full session id (the token's hash); operator outputs only
	Session      string         `json:"session"`      // the short id operators see in the dashboard
	User         string         `json:"user"`
	UserID       int64          `json:"user_id"`
	Email        string         `json:"user_email"`
	Name         string         `json:"user_name"`
	Role         string         `json:"user_role"`
	Status       string         `json:"user_status"`
	LoginTime    time.Time      `json:"login_time"`
	LastActivity time.Time      `json:"last_activity"`
	ExpiresAt    time.Time      `json:"expires_at"`
	IP           string         `json:"ip"`
	UserAgent    string         `json:"user_agent,omitempty"`
	Data         map[string]any `json:"data,omitempty"`
}

// FieldsOf returns s's fields, without the full id (set it for operators).
func FieldsOf(s Session) Fields {
	return Fields{
		Session: ShortID(s.ID), User: s.Username, UserID: s.UserID, Email: s.Email, Name: s.FullName,
		Role: s.Role, Status: s.Status, LoginTime: s.LoginTime.UTC(), LastActivity: s.LastActivity.UTC(),
		ExpiresAt: s.ExpiresAt.UTC(), IP: s.IP, UserAgent: s.UserAgent, Data: s.Data,
	}
}
