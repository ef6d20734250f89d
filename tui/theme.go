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

// newStyleSet builds the theme for renderer r (lipgloss.DefaultRenderer() when
// nil). Colours are adaptive: one value for light and one for dark
// terminals.
func newStyleSet(r *lipgloss.Renderer) styleSet {
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
	}
	var (
		blue   = c("#0060A0", "#5FAFFF")
		green2 = c("#1E7F3A", "#87D787")
		purple = c("#8A3FA0", "#D787FF")
		teal   = c("#00707A", "#5FD7D7")
		ochre  = c("#7A5C00", "#D7AF5F")
	)
	admin := paintOf(s().Bold(true).Foreground(red))
	t.known = map[string]paint{
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
