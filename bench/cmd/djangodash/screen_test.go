package main

import "testing"

func TestParseScreen(t *testing.T) {
	live := `sessionmon  ● live  poll 1s  django postgres postgres@127.0.0.1:5432/test
20015 active · 0 expiring <1h · 152 logins in 5m · admin 4992 editor 5009 user 10014
1/20,004                                                  logins over time: not recorded by this source
  ▲user            name                             role       status     ip                       age      seen      expires      id
▸ user0000000      User 0                           user       active     10.0.0.0                 2d16h    18h ago   13d05:27:37  3p16quy0
  user0000001      User 1                           user       active     10.0.0.1                 6d22h    3d ago    10d00:19:38  ct3nk666
`
	for _, c := range []struct {
		name, text string
		want       screen
	}{
		{"live", live, screen{badge: "live", active: 20015, rows: 2}},
		{"starting", "sessionmon  ✗ no data yet  poll 1s  django postgres\ncounts: waiting for the store\n", screen{badge: "no data yet"}},
		{"stale", "sessionmon  ✗ stale 12s, retry in 3s  poll 1s\n20015 active · 0 expiring <1h\n", screen{badge: "stale 12s", active: 20015}},
		{"reading", "sessionmon  ◌ reading the store…  poll 1s  django postgres\ncounts: waiting for the store\n", screen{badge: "reading the store"}},
		{"query failed", "sessionmon  ! query failed, stale 2s  poll 1s\n3 active\n", screen{badge: "query failed", active: 3}},
		{"empty", "", screen{badge: "none"}},
		// A username in the header (a notice) is not a table row.
		{"header only", "sessionmon  ● live  user0000001\n0 active\n", screen{badge: "live"}},
	} {
		if got := parseScreen(c.text); got != c.want {
			t.Errorf("%s: parseScreen = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestSlope(t *testing.T) {
	// RSS growing 2 MB a minute, with noise that cancels out.
	xs := []float64{0, 1, 2, 3}
	ys := []float64{100, 103, 103, 106}
	if got := slope(xs, ys); got != 1.8 {
		t.Errorf("slope = %v, want 1.8", got)
	}
	if got := slope([]float64{1, 1}, []float64{1, 2}); got == got {
		t.Errorf("slope of one x = %v, want NaN", got)
	}
}
