package tui

import (
	"hash/fnv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// Theme holds every colour and style of the dashboard, built once from a
// lipgloss renderer. The renderer decides the colour profile: it reads
// NO_COLOR (and CLICOLOR) from the environment through termenv, and an
// Ascii profile drops every colour and attribute. Nothing else in the
// package names a colour.
type Theme struct {
	Title    Paint          // "sessionmon" in the header
	Dim      Paint          // secondary text
	Label    Paint          // field names in the detail view
	Live     Paint          // "live" badge
	Stale    Paint          // "stale 12s" badge
	Paused   Paint          // "paused" badge
	ColTitle Paint          // table column titles
	OK       Paint          // status line: an action succeeded
	Err      Paint          // status line and detail: an error
	Warn     Paint          // confirm dialog title, warnings
	Dialog   lipgloss.Style // confirm and extend boxes
	Help     help.Styles

	// Paints colour text already cut to its width (a table cell, a short
	// line); they are precomputed escape sequences, so a frame costs no
	// lipgloss rendering per cell.
	Amber    Paint            // expires in under an hour
	Red      Paint            // expires in under five minutes, or expired
	Marked   Paint            // the mark column
	Selected Paint            // the selected row (reverse video)
	roles    []Paint          // for roles not named in known
	known    map[string]Paint // the usual roles, each its own colour
}

// Paint wraps text in precomputed escape sequences. The zero Paint leaves
// text as it is.
type Paint struct{ pre, post string }

// Apply returns s wrapped in the paint's sequences.
func (p Paint) Apply(s string) string {
	if p.pre == "" {
		return s
	}
	return p.pre + s + p.post
}

func paintOf(st lipgloss.Style) Paint {
	const probe = "x"
	out := st.Render(probe)
	i := strings.Index(out, probe)
	if i < 0 || out == probe {
		return Paint{}
	}
	return Paint{pre: out[:i], post: out[i+len(probe):]}
}

// NewTheme builds the theme for renderer r (lipgloss.DefaultRenderer() when
// nil). Colours are adaptive: one value for light and one for dark
// terminals.
func NewTheme(r *lipgloss.Renderer) Theme {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	c := func(light, dark string) lipgloss.AdaptiveColor {
		return lipgloss.AdaptiveColor{Light: light, Dark: dark}
	}
	var (
		accent = c("#5A4FCF", "#A39BFF")
		dim    = c("#6B6B6B", "#8A8A8A")
		green  = c("#1E7F3A", "#5FD787")
		amber  = c("#A35F00", "#FFB000")
		red    = c("#C01C28", "#FF5F5F")
	)
	s := r.NewStyle
	t := Theme{
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
	}
	var (
		blue   = c("#0060A0", "#5FAFFF")
		green2 = c("#1E7F3A", "#87D787")
		purple = c("#8A3FA0", "#D787FF")
		teal   = c("#00707A", "#5FD7D7")
		ochre  = c("#7A5C00", "#D7AF5F")
	)
	admin := paintOf(s().Bold(true).Foreground(red))
	t.known = map[string]Paint{
		"admin": admin, "root": admin, "superuser": admin,
		"staff":    paintOf(s().Foreground(blue)),
		"operator": paintOf(s().Foreground(purple)),
		"support":  paintOf(s().Foreground(teal)),
		"user":     paintOf(s().Foreground(green2)),
		"guest":    paintOf(s().Foreground(dim)),
	}
	for _, col := range []lipgloss.AdaptiveColor{blue, green2, purple, teal, ochre} {
		t.roles = append(t.roles, paintOf(s().Foreground(col)))
	}
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

// Role is the paint of a role: admin-like roles in bold red, the usual
// roles each their own colour, any other role a stable colour picked from
// its name.
func (t Theme) Role(role string) Paint {
	if p, ok := t.known[role]; ok {
		return p
	}
	if len(t.roles) == 0 {
		return Paint{}
	}
	h := fnv.New32a()
	h.Write([]byte(role))
	return t.roles[h.Sum32()%uint32(len(t.roles))]
}

// Expiry is the paint of a countdown to at: red under five minutes (and
// expired), amber under an hour.
func (t Theme) Expiry(at, now time.Time) Paint {
	left := at.Sub(now)
	switch {
	case left < 5*time.Minute:
		return t.Red
	case left < time.Hour:
		return t.Amber
	}
	return Paint{}
}
