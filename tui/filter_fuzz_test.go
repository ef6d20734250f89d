package tui

import (
	"strings"
	"testing"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
)

// FuzzFilterInput types arbitrary text into the filter (as keystrokes and
// as a paste) on a loaded table: never a panic, never a frame wider than
// the terminal, the filter never exceeds its 200-character limit, and the
// listing asks the store for exactly the filter's text.
func FuzzFilterInput(f *testing.F) {
	for _, s := range []string{"alice", "192.0.2", "'; DROP TABLE sessions; --", "%_\\", "\x1b[31mred", "\u202eevil", "\xff\xfe", strings.Repeat("z", 300), "Zoë", ""} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, paste bool) {
		m := load(newTest(t, Options{}), fixture())
		m, _ = upd(m, tea.WindowSizeMsg{Width: 80, Height: 24})
		m, _ = upd(m, keyMsg("/"))
		if paste {
			m, _ = upd(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(text), Paste: true})
		} else {
			for _, r := range text {
				m, _ = upd(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
			}
		}
		m, _ = upd(m, tea.KeyMsg{Type: tea.KeyEnter})
		if n := utf8.RuneCountInString(m.filter.value); n > 200 {
			t.Fatalf("filter holds %d characters, limit 200", n)
		}
		for i, line := range strings.Split(m.View(), "\n") {
			if w := width(line); w > 80 {
				t.Fatalf("line %d is %d wide at 80 columns: %q", i, w, line)
			}
		}
		// The store is asked for exactly the filter's text (bound as data
		// there, never SQL). The runtime delivers the filter's change
		// message; deliver it here as it would.
		m, _ = upd(m, filterChangedMsg{text: m.filter.value})
		if m.lastReq.text != m.filter.value {
			t.Fatalf("listing asked for %q, filter is %q", m.lastReq.text, m.filter.value)
		}
	})
}
