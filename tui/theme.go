package tui

import (
	"hash/fnv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// styleSet holds every colour and style of the dashboard, built once from a
// lipgloss renderer. The renderer decides the colour profile: it reads
// NO_COLOR (and CLICOLOR) from the environment through termenv, and an
// Ascii profile drops every colour and attribute. Nothing else in the
// package names a colour.
type styleSet struct {
	Title    paint          // "sessionmon" in the header
	Dim      paint          // secondary text
	Label    paint          // field names in the detail view
	Live     paint          // "live" badge
	Stale    paint          // "stale 12s" badge
	Paused   paint          // "paused" badge
	ColTitle paint          // table column titles
	OK       paint          // status line: an action succeeded
	Err      paint          // status line and detail: an error
	Warn     paint          // confirm dialog title, warnings
	Dialog   lipgloss.Style // confirm and extend boxes
	Help     help.Styles

	// Paints colour text already cut to its width (a table cell, a short
	// line); they are precomputed escape sequences, so a frame costs no
	// lipgloss rendering per cell.
	Amber    paint            // expires in under an hour
	Red      paint            // expires in under five minutes, or expired
	Marked   paint            // the mark column
	Selected paint            // the selected row (reverse video)
	Match    paint            // the filter's text inside a cell (no colour: never a state)
	roles    []paint          // for roles not named in known
	known    map[string]paint // the usual roles, each its own colour
}

// paint wraps text in precomputed escape sequences. The zero paint leaves
// text as it is.
type paint struct{ pre, post string }

// Apply returns s wrapped in the paint's sequences.
func (p paint) Apply(s string) string {
	if p.pre == "" {
		return s
	}
	return p.pre + s + p.post
}

func paintOf(st lipgloss.Style) paint {
	const probe = "x"
	out := st.Render(probe)
	i := strings.Index(out, probe)
	if i < 0 || out == probe {
		return paint{}
	}
	return paint{pre: out[:i], post: out[i+len(probe):]}
}

func adaptive(light, dark string) lipgloss.AdaptiveColor {
	return lipgloss.AdaptiveColor{Light: light, Dark: dark}
}

// The state colours: what the store and the sessions are doing.
var (
	colGreen  = adaptive("#1E7F3A", "#5FD787") // live, an action succeeded
	colAmber  = adaptive("#A35F00", "#FFB000") // expires within the hour, paused, a warning
	colRed    = adaptive("#C01C28", "#FF5F5F") // stale, an error, expires within 5 minutes
	colAccent = adaptive("#5A4FCF", "#A39BFF") // the title, the marks
	colDim    = adaptive("#6B6B6B", "#8A8A8A")
)

// roleColours are the roles' colours, each its own hue, and none near a
// state colour: admin is magenta, not the error red; auditor is violet,
// not next to the warning amber (theme_test.go measures the distances, on
// light and dark backgrounds). user and viewer, the most common, stay
// plain; guest is dim.
var roleColours = map[string]lipgloss.AdaptiveColor{
	"admin":    adaptive("#B4009E", "#FF5FD7"),
	"staff":    adaptive("#0040C0", "#5FAFFF"),
	"editor":   adaptive("#009AA8", "#00D7D7"),
	"support":  adaptive("#3D5C7A", "#D7D787"),
	"auditor":  adaptive("#6A1BB5", "#C08AFF"),
	"operator": adaptive("#914D80", "#FFAFD7"),
}

// otherRoles lend their colours to roles not named above, by a hash of
// the name (admin's is kept for admins).
var otherRoles = []string{"staff", "editor", "support", "auditor", "operator"}

// newStyleSet builds the theme for renderer r (lipgloss.DefaultRenderer() when
// nil). Colours are adaptive: one value for light and one for dark
// terminals.
func newStyleSet(r *lipgloss.Renderer) styleSet {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	var (
		accent = colAccent
		dim    = colDim
		green  = colGreen
		amber  = colAmber
		red    = colRed
	)
	s := r.NewStyle
	t := styleSet{
		Title:    paintOf(s().Bold(true).Foreground(accent)),
		Dim:      paintOf(s().Foreground(dim)),
		Label:    paintOf(s().Bold(true)),
		Live:     paintOf(s().Bold(true).Foreground(green)),
		Stale:    paintOf(s().Bold(true).Foreground(red)),
		Paused:   paintOf(s().Bold(true).Foreground(amber)),
		ColTitle: paintOf(s().Bold(true).Underline(true)),
		OK:       paintOf(s().Foreground(green)),
		Err:      paintOf(s().Foreground(red)),
		Warn:     paintOf(s().Bold(true).Foreground(amber)),
		Dialog:   s().Border(lipgloss.RoundedBorder()).BorderForeground(amber).Padding(0, 1),
		Amber:    paintOf(s().Foreground(amber)),
		Red:      paintOf(s().Bold(true).Foreground(red)),
		Marked:   paintOf(s().Bold(true).Foreground(accent)),
		Selected: paintOf(s().Reverse(true)),
		Match:    paintOf(s().Underline(true).Bold(true)),
	}
	admin := paintOf(s().Bold(true).Foreground(roleColours["admin"]))
	t.known = map[string]paint{"root": admin, "superuser": admin, "guest": paintOf(s().Foreground(dim))}
	for role, col := range roleColours {
		st := s().Foreground(col)
		if role == "admin" {
			st = st.Bold(true)
		}
		t.known[role] = paintOf(st)
	}
	for _, role := range otherRoles {
		t.roles = append(t.roles, t.known[role])
	}
	// The most common roles stay in the terminal's own colour: plain is
	// distinct from every colour, and from every state.
	t.known["user"], t.known["viewer"] = paint{}, paint{}
	t.Help = help.Styles{
		ShortKey:       s().Bold(true),
		ShortDesc:      s().Foreground(dim),
		ShortSeparator: s().Foreground(dim),
		Ellipsis:       s().Foreground(dim),
		FullKey:        s().Bold(true),
		FullDesc:       s().Foreground(dim),
		FullSeparator:  s().Foreground(dim),
	}
	return t
}

// Role is the paint of a role: admin-like roles in bold magenta, the usual
// roles each their own colour (user and viewer plain), any other role a
// stable colour picked from its name.
func (t styleSet) Role(role string) paint {
	if p, ok := t.known[role]; ok {
		return p
	}
	if len(t.roles) == 0 {
		return paint{}
	}
	h := fnv.New32a()
	h.Write([]byte(role))
	return t.roles[h.Sum32()%uint32(len(t.roles))]
}

// Expiry is the paint of a countdown to at: red under five minutes (and
// expired), amber under an hour.
func (t styleSet) Expiry(at, now time.Time) paint {
	left := at.Sub(now)
	switch {
	case left < 5*time.Minute:
		return t.Red
	case left < time.Hour:
		return t.Amber
	}
	return paint{}
}
