package tui

import (
	"math"
	"strconv"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func rgbDistance(t *testing.T, a, b string) float64 {
	t.Helper()
	ch := func(h string, i int) float64 {
		v, err := strconv.ParseUint(strings.TrimPrefix(h, "#")[i:i+2], 16, 8)
		if err != nil {
			t.Fatalf("colour %q: %v", h, err)
		}
		return float64(v)
	}
	var sum float64
	for i := 0; i < 6; i += 2 {
		d := ch(a, i) - ch(b, i)
		sum += d * d
	}
	return math.Sqrt(sum)
}

// Roles get colours of their own that never look like a state (issue 9:
// admin was the error red, editor and staff shared one colour, viewer and
// support another, auditor sat next to the warning amber), on light and on
// dark backgrounds.
func TestRoleColoursAreDistinct(t *testing.T) {
	const apart = 75.0 // RGB distance: clearly another colour
	states := map[string]lipgloss.AdaptiveColor{"green": colGreen, "amber": colAmber, "red": colRed}
	for _, dark := range []bool{false, true} {
		pick := func(c lipgloss.AdaptiveColor) string {
			if dark {
				return c.Dark
			}
			return c.Light
		}
		for role, rc := range roleColours {
			for name, sc := range states {
				if d := rgbDistance(t, pick(rc), pick(sc)); d < apart {
					t.Errorf("dark=%v: %s is %.0f from the %s state colour", dark, role, d, name)
				}
			}
			for other, oc := range roleColours {
				if other < role {
					if d := rgbDistance(t, pick(rc), pick(oc)); d < apart {
						t.Errorf("dark=%v: %s and %s are %.0f apart", dark, role, other, d)
					}
				}
			}
		}
	}
	// As a 256-colour terminal shows them: every pair the issue named
	// differs, and no role looks like the expiry's red or amber.
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.ANSI256)
	r.SetHasDarkBackground(true)
	th := newStyleSet(r)
	for _, pair := range [][2]string{{"editor", "staff"}, {"viewer", "support"}, {"admin", "staff"}, {"auditor", "admin"}} {
		if th.Role(pair[0]) == th.Role(pair[1]) {
			t.Errorf("%s and %s share a colour", pair[0], pair[1])
		}
	}
	for _, role := range []string{"admin", "staff", "editor", "viewer", "support", "auditor", "operator", "user", "guest", "root", "somethingelse"} {
		p := th.Role(role)
		if p == th.Red || p == th.Amber || p == th.Err || p == th.Warn || p == th.Live || p == th.OK {
			t.Errorf("%s is painted like a state: %q", role, p.pre)
		}
	}
	// NO_COLOR (the Ascii profile): no colour at all.
	r.SetColorProfile(termenv.Ascii)
	if p := newStyleSet(r).Role("admin"); p != (paint{}) {
		t.Errorf("admin without colours: %q", p.pre)
	}
}

// A wide terminal shares its width: no column grows past its widest, so
// the role sits near the name (issue 9: 117 cells after it at 200
// columns), and the columns never pass the width.
func TestWideTerminalSharesTheWidth(t *testing.T) {
	for _, w := range []int{80, 120, 200, 300} {
		cols := layoutColumns(w)
		used := prefixWidth + len(cols) - 1
		for _, c := range cols {
			if c.width > c.max {
				t.Errorf("%d columns: %s is %d wide, widest %d", w, c.title, c.width, c.max)
			}
			used += c.width
		}
		if used > w {
			t.Errorf("%d columns: the row takes %d", w, used)
		}
	}
	m := load(newTest(t, Options{}), fixture())
	m, _ = upd(m, tea.WindowSizeMsg{Width: 200, Height: 20})
	for _, line := range strings.Split(m.View(), "\n") {
		if i, j := strings.Index(line, "Alice Example"), strings.Index(line, "admin"); i >= 0 && j >= 0 && j-i > 34 {
			t.Fatalf("the role is %d cells after the name at 200 columns:\n%s", j-i, line)
		}
	}
}

// Zero-width joiners and non-joiners are part of the text, not "?"
// (issue 9: "👩?👩?👧?👦", "Mehr?angiz مهر?انگیز"), and a row holding
// them still fits its width.
func TestGraphemeClustersAreShown(t *testing.T) {
	family := "👩\u200d👩\u200d👧\u200d👦"
	persian := "Mehr\u200cangiz مهر\u200cانگیز"
	for _, s := range []string{family, persian, "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"} {
		if got := clean(s); got != s {
			t.Errorf("clean(%q) = %q", s, got)
		}
	}
	rows := fixture()
	rows[0].Username, rows[0].FullName = family, persian
	rows[1].FullName = strings.Repeat(family, 20) // cut within the column, by whole clusters
	m := load(newTest(t, Options{}), rows)
	for _, w := range []int{80, 200} {
		m, _ = upd(m, tea.WindowSizeMsg{Width: w, Height: 20})
		v := m.View()
		if !strings.Contains(v, family) || !strings.Contains(v, "Mehr\u200cang") || strings.Contains(v, "👩?") || strings.Contains(v, "r?a") {
			t.Fatalf("%d columns:\n%s", w, v)
		}
		for i, line := range strings.Split(v, "\n") {
			if lw := lipglossWidth(line); lw > w {
				t.Fatalf("%d columns: line %d is %d wide: %q", w, i, lw, line)
			}
		}
	}
	// Bidi overrides and other controls still become "?".
	if got := clean("a\u202eb\u200fc\x1b"); got != "a?b?c?" {
		t.Errorf("clean kept a control: %q", got)
	}
}
