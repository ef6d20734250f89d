package tui

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// clean makes text from the store safe to print: control characters
// (which could move the cursor or inject escape sequences into the
// operator's terminal), bidi overrides and invalid UTF-8 become '?'.
func clean(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f || b >= 0x80 {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				b.WriteByte('?')
				continue
			}
		}
		if unsafeRune(r) {
			b.WriteByte('?')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return true
	}
	return !unicode.IsPrint(r) && !unicode.IsSpace(r)
}

// fit cuts s to exactly w terminal cells: longer text ends in "…",
// shorter text is padded with spaces. s must be clean (no escapes).
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = ansi.StringWidth(s)
	}
	if sw < w {
		s += strings.Repeat(" ", w-sw)
	}
	return s
}

// cut cuts a line (which may hold escape sequences) to at most w cells.
func cut(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// span formats a duration compactly with two units at most: "13d 23h",
// "5h 03m", "4m 12s", "9s". Negative durations count as zero.
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	days, s := s/86400, s%86400
	hours, s := s/3600, s%3600
	mins, secs := s/60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %02dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %02dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm %02ds", mins, secs)
	default:
		return fmt.Sprintf("%ds", secs)
	}
}

// compact is span without the space, for table cells: "13d23h", "5h03m",
// "4m12s", "9s".
func compact(d time.Duration) string {
	return strings.Replace(span(d), " ", "", 1)
}

// clockTime formats t for a prompt: the time of day when t is on now's
// date, else the date and the minute.
func clockTime(now, t time.Time) string {
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return t.Format("15:04:05 MST")
	}
	return t.Format("2006-01-02 15:04 MST")
}

// ago formats how long ago t was: "4s ago", "3m ago", "2h ago", "5d ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// stamp formats an absolute time for the detail view, in the local zone of
// the given clock's location.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

// parseSpan reads a duration typed by an operator: Go durations ("90m",
// "1h30m") plus days ("2d", "1d12h").
func parseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("type a duration such as 30m, 2h or 1d")
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		var n int
		if _, err := fmt.Sscanf(s[:i], "%d", &n); err != nil || n < 0 || n > 3660 || fmt.Sprint(n) != s[:i] {
			return 0, fmt.Errorf("%q is not a duration (try 30m, 2h or 1d)", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (try 30m, 2h or 1d)", s)
	}
	return days + d, nil
}

// showSpan formats a duration for the extend prompt's default: "1h",
// "1h30m", "2d", "45s".
func showSpan(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return d.String()
	}
	return b.String()
}
