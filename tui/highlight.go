package tui

import (
	"strings"
	"unicode/utf8"
)

// The filter's match is highlighted in the cells it matched: the filter is
// a case-insensitive substring of the username, full name, role or IP (or
// the email, which has no column), so an operator sees why each row is
// listed, and that 10.0.0.1 also matched 10.0.0.12.

// colourMatch colours a cell already cut to its width, underlining every
// occurrence of the filter in it. The selected row (painted whole in
// reverse video) and the columns the filter does not search are coloured
// as before.
func (t tableModel) colourMatch(selected bool, p paint, s string, col column) string {
	if selected || t.filter == "" || !searched(col) {
		return t.colour(selected, p, s)
	}
	spans := matchSpans(s, t.filter)
	if len(spans) == 0 {
		return p.Apply(s)
	}
	var b strings.Builder
	at := 0
	for _, sp := range spans {
		b.WriteString(p.Apply(s[at:sp[0]]))
		b.WriteString(t.theme.Match.Apply(p.Apply(s[sp[0]:sp[1]])))
		at = sp[1]
	}
	b.WriteString(p.Apply(s[at:]))
	return b.String()
}

// searched reports whether the filter searches the column.
func searched(c column) bool {
	switch c {
	case colUser, colName, colRole, colIP:
		return true
	}
	return false
}

// matchSpans returns the byte ranges of s where filter occurs, compared
// case-insensitively rune by rune (strings.EqualFold), without overlaps.
func matchSpans(s, filter string) [][2]int {
	n := utf8.RuneCountInString(filter)
	if n == 0 || len(s) == 0 {
		return nil
	}
	var out [][2]int
	for i := 0; i < len(s); {
		// The n runes from i.
		j, k := i, 0
		for k < n && j < len(s) {
			_, w := utf8.DecodeRuneInString(s[j:])
			j += w
			k++
		}
		if k == n && strings.EqualFold(s[i:j], filter) {
			out = append(out, [2]int{i, j})
			i = j
			continue
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return out
}
