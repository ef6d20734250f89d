package tui

import (
	"errors"
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

func TestErrTextIsOneReadableLine(t *testing.T) {
	err := errors.New("postgres list active: failed to connect to `user=postgres database=test`:\n\t127.0.0.1:5432 (127.0.0.1): dial error: connection refused\n\t[::1]:5432: dial error")
	got := errText(err)
	want := "postgres list active: failed to connect to `user=postgres database=test`: 127.0.0.1:5432 (127.0.0.1): dial error: connection refused [::1]:5432: dial error"
	if got != want {
		t.Fatalf("errText =\n%q\nwant\n%q", got, want)
	}
}
