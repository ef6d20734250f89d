package djangoe2e

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"sessionmon/data/django"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
	"sessionmon/tui"
)

func init() { lipgloss.SetColorProfile(termenv.Ascii) }

// TestDashboardForceOutOnDjango: the real dashboard on a Django site shows
// a session Django created over HTTP with its user and role, and a
// force-out from it makes Django's next AJAX request answer 401 and the
// page redirect to the login page.
func TestDashboardForceOutOnDjango(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		site := newSite(t, backend, siteOptions{})
		site.seed([]seedUser{{Username: "mallory", Password: "stolen-laptop", FullName: "Mallory Moe", Role: "contractor"}}, nil)
		b := site.browser()
		key := b.login("mallory", "stolen-laptop")
		b.mustBeIn()

		src := site.open(django.NewKeys(site.secret))
		mgr, err := sessionlogic.New(sessionlogic.Options{Source: src.DataSource(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		tm := teatest.NewTestModel(t, tui.New(tui.Options{Manager: mgr, Operator: "oncall-test", PollInterval: 250 * time.Millisecond}),
			teatest.WithInitialTermSize(120, 30))
		teatest.WaitFor(t, tm.Output(), testkit.Contains("mallory", "contractor", "1 active"), teatest.WithDuration(15*time.Second))
		tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("x")})
		teatest.WaitFor(t, tm.Output(), testkit.Contains("Force out mallory"), teatest.WithDuration(5*time.Second))
		tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")})
		teatest.WaitFor(t, tm.Output(), testkit.Contains("forced out mallory"), teatest.WithDuration(5*time.Second))
		b.mustBeOut()
		tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))

		a, err := src.Audit(ctx, dataAuditAll())
		if err != nil || len(a) != 1 || a[0].Actor != "oncall-test" || a[0].Username != "mallory" || !strings.EqualFold(a[0].SessionID, key) {
			t.Errorf("audit = %+v, %v", a, err)
		}
	})
}
