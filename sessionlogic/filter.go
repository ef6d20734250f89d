package sessionlogic

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Filter qualifiers. A listing's filter text (ListQuery.Text, the
// dashboard's `/`) is a substring of username, name, email, role or IP;
// besides it, the terms "user:NAME", "ip:ADDR" and "role:NAME" match that
// field exactly. Enter on a group of the dashboard's by-IP view sets
// "ip:ADDR", so 127.0.1.1 lists its own sessions and not also those of
// 127.0.1.10 to 127.0.1.19, as a substring would. A value with a space or
// a double quote is written quoted, as Go quotes strings (Term):
// user:"mary ann".
const (
	QualUser = "user:"
	QualIP   = "ip:"
	QualRole = "role:"
)

// filterTerms is a filter text split into its exact terms and the rest.
type filterTerms struct {
	user, ip, role string
	text           string // what is left, a substring
}

// Term is the filter term for field q (QualUser, QualIP, QualRole) equal
// to v: quoted when v holds a space, a quote or a backslash, so that
// parseFilter reads v back whole. There is no term for an empty value
// (parseFilter refuses q+`""`).
func Term(q, v string) string {
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\\' }) {
		return q + strconv.Quote(v)
	}
	return q + v
}

// filterWords splits s at white space outside double quotes (a quote
// escaped by a backslash inside them does not end them).
func filterWords(s string) []string {
	var words []string
	start, quoted := -1, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\':
			i++ // the escaped byte
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

// parseFilter splits s at spaces into qualified terms (a known prefix,
// any case, with a value, quoted when it holds spaces) and free text,
// joined again by single spaces. A qualifier given twice with different
// values is an error: no session can match both, and the operator should
// hear why the list is empty.
func parseFilter(s string) (filterTerms, error) {
	if !strings.Contains(s, ":") {
		return filterTerms{text: s}, nil // the common case, left as typed
	}
	var f filterTerms
	var rest []string
	for _, w := range filterWords(s) {
		var dst *string
		var q string
		for _, c := range []struct {
			q   string
			dst *string
		}{{QualUser, &f.user}, {QualIP, &f.ip}, {QualRole, &f.role}} {
			if len(w) > len(c.q) && strings.EqualFold(w[:len(c.q)], c.q) {
				dst, q = c.dst, c.q
				break
			}
		}
		if dst == nil {
			rest = append(rest, w)
			continue
		}
		v := w[len(q):]
		if strings.HasPrefix(v, `"`) {
			u, err := strconv.Unquote(v)
			if err != nil {
				return filterTerms{}, fmt.Errorf("%w: filter %s%s: a quoted value must end with a quote (Go's escapes inside)", ErrInvalidInput, q, clip(v, 40))
			}
			v = u
			if v == "" {
				return filterTerms{}, fmt.Errorf("%w: filter %s\"\": an exact term needs a value", ErrInvalidInput, q)
			}
		}
		if *dst != "" && *dst != v {
			return filterTerms{}, fmt.Errorf("%w: filter %s%s and %s%s: no session has both", ErrInvalidInput, q, clip(*dst, 40), q, clip(v, 40))
		}
		*dst = v
	}
	f.text = strings.Join(rest, " ")
	return f, nil
}

// apply merges the filter's exact terms into the query's own fields
// (Username, Role, IP), refusing a term that contradicts one.
func (f filterTerms) apply(username, role, ip *string) error {
	for _, c := range []struct {
		name      string
		term, dst *string
	}{{"user", &f.user, username}, {"role", &f.role, role}, {"ip", &f.ip, ip}} {
		if *c.term == "" {
			continue
		}
		if *c.dst != "" && *c.dst != *c.term {
			return fmt.Errorf("%w: filter %s:%s contradicts %s %q", ErrInvalidInput, c.name, clip(*c.term, 40), c.name, clip(*c.dst, 40))
		}
		*c.dst = *c.term
	}
	return nil
}

// resolve turns q's filter text into exact fields and free text.
func (q *ListQuery) resolve() error {
	f, err := parseFilter(q.Text)
	if err != nil {
		return err
	}
	if err := f.apply(&q.Username, &q.Role, &q.IP); err != nil {
		return err
	}
	q.Text = f.text
	return nil
}

// groupText is the substring a GroupQuery filters its keys by for the
// filter text s: the free text, or the value of the term that names the
// grouping key (a substring there too: the group queries offer no exact
// match). Other terms cannot apply to groups and are refused, rather than
// showing groups the filter line says are filtered out.
func groupText(by GroupBy, s string) (string, error) {
	f, err := parseFilter(s)
	if err != nil {
		return "", err
	}
	key, other := f.user, []string{f.ip, f.role}
	if by == GroupByIP {
		key, other = f.ip, []string{f.user, f.role}
	}
	for _, o := range other {
		if o != "" {
			return "", fmt.Errorf("%w: filter %q: groups by %s filter by a substring of the %s only", ErrInvalidInput, clip(s, 60), by, by)
		}
	}
	switch {
	case key != "" && f.text != "":
		return "", fmt.Errorf("%w: filter %q: groups by %s filter by one substring of the %s", ErrInvalidInput, clip(s, 60), by, by)
	case key != "":
		return key, nil
	}
	return f.text, nil
}

// MatchesFilter reports whether s is one a listing filtered by text
// selects (the stores' filter, for a client that holds sessions already:
// the dashboard's marked sessions the filter hides). A filter that cannot
// be parsed matches nothing, as its listing lists nothing.
func MatchesFilter(s Session, text string) bool {
	f, err := parseFilter(text)
	if err != nil {
		return false
	}
	if (f.user != "" && s.Username != f.user) || (f.ip != "" && s.IP != f.ip) || (f.role != "" && s.Role != f.role) {
		return false
	}
	if f.text == "" {
		return true
	}
	t := strings.ToLower(f.text)
	for _, v := range []string{s.Username, s.FullName, s.Email, s.Role, s.IP} {
		if strings.Contains(strings.ToLower(v), t) {
			return true
		}
	}
	return false
}

// FilterSubstring is the free text of a filter, without its exact terms:
// what a listing's rows contain somewhere (the dashboard underlines it).
func FilterSubstring(text string) string {
	f, err := parseFilter(text)
	if err != nil {
		return ""
	}
	return f.text
}
