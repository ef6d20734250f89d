package tui

import (
	"fmt"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// BenchmarkView renders a full frame: every visible row filled. View must
// stay well under 2 ms at any size (issue 4). Run with:
//
//	go test ./tui -run '^$' -bench View -benchmem
func BenchmarkView(b *testing.B) {
	for _, profile := range []termenv.Profile{termenv.Ascii, termenv.TrueColor} {
		for _, sz := range [][2]int{{80, 24}, {200, 60}} {
			b.Run(fmt.Sprintf("%dx%d/%s", sz[0], sz[1], profileName(profile)), func(b *testing.B) {
				r := lipgloss.NewRenderer(nil)
				r.SetColorProfile(profile)
				r.SetHasDarkBackground(true)
				m := newModel(Options{Now: fixedNow}, r)
				m, _ = upd(m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
				m = load(m, manyRows(m.windowReq(placeTop).limit))
				m = press(m, "down", " ", "down", " ")
				if n := len(m.table.rows); n < m.table.height {
					b.Fatalf("%d rows for %d visible", n, m.table.height)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					_ = m.View()
				}
			})
		}
	}
}

func profileName(p termenv.Profile) string {
	if p == termenv.Ascii {
		return "ascii"
	}
	return "truecolor"
}
