package tui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"sessionmon/sessionlogic"
)

// detailModel is the Enter view: every field of one session, its data
// keys, its user agent, and its audit history. It opens at once with the
// row as the table had it, then shows the session as the store has it.
type detailModel struct {
	keys  keyMap
	theme *styleSet

	reqID    int
	session  sessionlogic.Session
	loaded   bool // the store answered
	err      error
	audit    []sessionlogic.AuditEntry
	auditErr error

	offset        int // first line shown
	width, height int // the view's size
}

func newDetail(keys keyMap, theme *styleSet) detailModel {
	return detailModel{keys: keys, theme: theme}
}

// Open shows s (the row as held) while the fetch with request id runs.
func (d detailModel) Open(s sessionlogic.Session, reqID int) detailModel {
	return detailModel{keys: d.keys, theme: d.theme, reqID: reqID, session: s, width: d.width, height: d.height}
}

// SetSize sets the view's size.
func (d *detailModel) SetSize(width, height int) { d.width, d.height = width, max(0, height) }

func (d detailModel) Update(msg tea.Msg) (detailModel, tea.Cmd) {
	switch msg := msg.(type) {
	case detailMsg:
		if msg.id != d.reqID {
			return d, nil // an older request
		}
		d.loaded, d.err, d.audit, d.auditErr = true, msg.err, msg.audit, msg.auditErr
		if msg.err == nil {
			d.session = msg.session
		}
	case tea.KeyMsg:
		d.offset = min(scroll(d.keys, msg, d.offset), max(0, len(d.lines(d.session.LoginTime))-d.height))
	}
	return d, nil
}

// labelWidth is the width of the field names in the detail view.
const labelWidth = 15

// scroll moves a line offset for the up/down/page/home/end keys; the view
// clamps it.
func scroll(k keyMap, msg tea.KeyMsg, off int) int {
	switch {
	case key.Matches(msg, k.Up):
		off--
	case key.Matches(msg, k.Down):
		off++
	case key.Matches(msg, k.PageUp):
		off -= 10
	case key.Matches(msg, k.PageDown):
		off += 10
	case key.Matches(msg, k.Home):
		off = 0
	case key.Matches(msg, k.End):
		off = 1 << 30
	}
	return max(0, off)
}

func (d detailModel) lines(now time.Time) []string {
	t := d.theme
	s := d.session
	var out []string
	field := func(name, value string) {
		out = append(out, t.Label.Apply(fmt.Sprintf("%-*s", labelWidth, name))+" "+value)
	}
	out = append(out, t.Title.Apply("Session "+clean(sessionlogic.ShortID(s.ID))))
	if d.err != nil {
		out = append(out, t.Err.Apply("✗ "+errText(d.err)))
	}
	state := "active"
	switch {
	case !s.EndedAt.IsZero():
		state = fmt.Sprintf("ended %s (%s by %s)", ago(now, s.EndedAt), clean(s.EndReason), clean(s.EndedBy))
	case !s.ExpiresAt.After(now):
		state = "expired"
	}
	if !d.loaded && d.err == nil {
		state += t.Dim.Apply("  (reading the store…)")
	}
	field("state", state)
	field("id", clean(s.ID))
	field("user", fmt.Sprintf("%s (id %d)", clean(s.Username), s.UserID))
	field("full name", clean(s.FullName))
	field("email", clean(s.Email))
	field("role", t.Role(s.Role).Apply(clean(s.Role)))
	field("user status", clean(s.Status))
	field("ip", clean(s.IP))
	// The user agent is long (Chrome's is ~130 cells): wrapped, not cut.
	ua := strings.Split(ansi.Wrap(clean(s.UserAgent), max(20, d.width-labelWidth-1), " ;,"), "\n")
	field("user agent", ua[0])
	for _, l := range ua[1:] {
		out = append(out, strings.Repeat(" ", labelWidth+1)+strings.TrimLeft(l, " "))
	}
	field("logged in", fmt.Sprintf("%s (%s ago)", stamp(s.LoginTime), span(now.Sub(s.LoginTime))))
	field("last activity", fmt.Sprintf("%s (%s)", stamp(s.LastActivity), ago(now, s.LastActivity)))
	exp := fmt.Sprintf("%s (in %s)", stamp(s.ExpiresAt), span(s.ExpiresAt.Sub(now)))
	if !s.ExpiresAt.After(now) {
		exp = stamp(s.ExpiresAt) + " (expired)"
	}
	field("expires", t.Expiry(s.ExpiresAt, now).Apply(exp))
	if s.AbsoluteExpiresAt.IsZero() {
		field("absolute limit", "none")
	} else {
		field("absolute limit", stamp(s.AbsoluteExpiresAt))
	}
	field("version", fmt.Sprint(s.Version))

	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out = append(out, "", t.Label.Apply(fmt.Sprintf("Data (%d keys)", len(keys))))
	for _, k := range keys {
		out = append(out, "  "+clean(k)+" = "+clean(dataValue(s.Data[k])))
	}

	out = append(out, "", t.Label.Apply(fmt.Sprintf("Audit history (%d)", len(d.audit))))
	switch {
	case d.auditErr != nil:
		out = append(out, t.Err.Apply("✗ "+errText(d.auditErr)))
	case !d.loaded:
		out = append(out, t.Dim.Apply("  reading…"))
	case len(d.audit) == 0:
		out = append(out, t.Dim.Apply("  none"))
	}
	for _, e := range d.audit {
		out = append(out, "  "+auditLine(e, false))
	}
	return out
}

// dataValue shows one session data value: strings as they are, anything
// else as JSON.
func dataValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// actionNames are the audit actions in words.
var actionNames = map[string]string{
	"login":             "login",
	"login_failed":      "login failed",
	"logout":            "logout",
	"force_logout":      "forced out",
	"force_logout_user": "user forced out",
	"extend":            "extended",
	"purge":             "purge",
	"user_add":          "user added",
	"user_set_role":     "role set",
	"user_deactivate":   "deactivated",
	"user_activate":     "activated",
}

// auditLine is one audit entry on one line: when, who, what, the target
// (user, and session when withSession), the client IP and the detail.
func auditLine(e sessionlogic.AuditEntry, withSession bool) string {
	what, ok := actionNames[e.Action]
	if !ok {
		what = clean(e.Action)
	}
	target := clean(e.Username)
	if withSession && e.SessionID != "" {
		target += " " + clean(shortID(e.SessionID))
	}
	parts := []string{
		e.Time.Format("01-02 15:04:05"),
		fit(clean(e.Actor), 10),
		fit(what, 15),
		fit(target, 17),
	}
	var tail []string
	if e.IP != "" {
		tail = append(tail, "ip "+clean(e.IP))
	}
	if e.Detail != "" {
		tail = append(tail, clean(e.Detail))
	}
	return strings.Join(parts, " ") + " " + strings.Join(tail, ", ")
}

// window cuts lines to the view: height lines from offset, each at most
// width cells. It returns the lines and the clamped offset.
func window(lines []string, offset, width, height int) (string, int) {
	if height <= 0 {
		return "", 0
	}
	offset = max(0, min(offset, len(lines)-height))
	end := min(len(lines), offset+height)
	out := make([]string, 0, end-offset)
	for _, l := range lines[offset:end] {
		out = append(out, cut(l, width))
	}
	return strings.Join(out, "\n"), offset
}

func (d detailModel) View(now time.Time) string {
	v, _ := window(d.lines(now), d.offset, d.width, d.height)
	return v
}
