package tui

import (
	"testing"
	"time"
)

func TestCountdownTicksEverySecondAtAnyDistance(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		left time.Duration
		want string
	}{
		{14 * 24 * time.Hour, "14d00:00:00"},
		{14*24*time.Hour - time.Second, "13d23:59:59"},
		{5*time.Hour + 3*time.Minute + 12*time.Second, "05:03:12"},
		{9 * time.Second, "00:00:09"},
		{time.Millisecond, "00:00:01"}, // never 00:00:00 while active
		{0, "expired"},
		{-time.Hour, "expired"},
	} {
		if got := countdown(now.Add(tc.left), now); got != tc.want {
			t.Errorf("countdown(%s) = %q, want %q", tc.left, got, tc.want)
		}
	}
	// One second later the text differs, even fourteen days out.
	at := now.Add(14 * 24 * time.Hour)
	if countdown(at, now) == countdown(at, now.Add(time.Second)) {
		t.Fatal("the countdown did not move in a second")
	}
}
