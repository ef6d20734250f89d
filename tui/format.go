package tui

import (
	"fmt"
	"strconv"
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
	case r == 0x200c, r == 0x200d, r >= 0xe0020 && r <= 0xe007f:
		// Zero-width non-joiner and joiner, and emoji tag characters:
		// format characters that hold grapheme clusters together
		// (👩‍👩‍👧‍👦, the Persian مهر‌انگیز, 🏴󠁧󠁢󠁳󠁣󠁴󠁿). They move no cursor and
		// override no direction; widths count whole clusters (x/ansi).
		return false
	}
	return !unicode.IsPrint(r) && !unicode.IsSpace(r)
}

// width is the number of terminal cells s takes. Plain ASCII, the common
// case, is counted without parsing.
func width(s string) int {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f {
			return ansi.StringWidth(s)
		}
	}
	return len(s)
}

// fit cuts s to exactly w terminal cells: longer text ends in "…",
// shorter text is padded with spaces. s must be clean (no escapes).
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := width(s)
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
	// A line never takes more cells than it has bytes.
	if len(s) <= w || width(s) <= w {
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
	return string(appendSpan(nil, d, true))
}

// appendSpan appends span(d) to b, with or without the space.
func appendSpan(b []byte, d time.Duration, space bool) []byte {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	days, s := s/86400, s%86400
	hours, s := s/3600, s%3600
	mins, secs := s/60, s%60
	two := func(b []byte, big int64, bu byte, small int64, su byte) []byte {
		b = strconv.AppendInt(b, big, 10)
		b = append(b, bu)
		if space {
			b = append(b, ' ')
		}
		if small < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, small, 10)
		return append(b, su)
	}
	switch {
	case days > 0:
		return two(b, days, 'd', hours, 'h')
	case hours > 0:
		return two(b, hours, 'h', mins, 'm')
	case mins > 0:
		return two(b, mins, 'm', secs, 's')
	}
	return append(strconv.AppendInt(b, secs, 10), 's')
}

// compact is span without the space, for table cells: "13d23h", "5h03m",
// "4m12s", "9s".
func compact(d time.Duration) string {
	return string(appendSpan(make([]byte, 0, 8), d, false))
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
	n, unit := int64(d/(24*time.Hour)), "d ago"
	switch {
	case d < time.Minute:
		n, unit = int64(d/time.Second), "s ago"
	case d < time.Hour:
		n, unit = int64(d/time.Minute), "m ago"
	case d < 48*time.Hour:
		n, unit = int64(d/time.Hour), "h ago"
	}
	return string(append(strconv.AppendInt(make([]byte, 0, 10), n, 10), unit...))
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
