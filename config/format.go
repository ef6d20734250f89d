package config

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// redacted replaces a password when a configuration is shown.
const redacted = "xxxxx"

// Format writes c as a TOML config file, with secrets redacted (see
// Redacted): what `sessionmon config` prints. Loading the output gives
// c.Redacted() back.
func (c Config) Format(w io.Writer) error {
	return c.Redacted().write(w, false)
}

// Redacted returns c with the password in the db DSN replaced by "xxxxx",
// in URL form (postgres://user:xxxxx@host/db, ?password=xxxxx) and in
// key=value form (password=xxxxx).
func (c Config) Redacted() Config {
	c.DB = redactDSN(c.DB)
	return c
}

// example is the header of sessionmon.example.toml.
const example = `# sessionmon configuration: every key, set to its default, with what it means
# (in the manner of Django's global_settings.py).
#
# Settings are read in this order, each overriding the one before:
#   defaults < this file < environment (SESSIONMON_*) < command-line flags.
# sessionmon reads sessionmon.toml from the working directory when it exists.
# Durations are Go durations ("336h", "90m", "1s") or whole seconds (1209600).
# Unknown keys are refused, so a misspelt key cannot go unnoticed.
`

// write writes c as TOML; with docs, every key comes with its documentation
// and environment variable (sessionmon.example.toml).
func (c Config) write(w io.Writer, docs bool) error {
	var b bytes.Buffer
	if docs {
		b.WriteString(example)
	}
	table := ""
	for _, f := range fields {
		t, name, ok := strings.Cut(f.Name, ".")
		if !ok {
			t, name = "", f.Name
		}
		if t != table {
			table = t
			b.WriteString("\n")
			if docs {
				for _, tt := range tables {
					if tt.name == t {
						b.WriteString("\n" + comment(tt.doc, "# "))
					}
				}
			}
			fmt.Fprintf(&b, "[%s]\n", t)
		}
		if docs {
			b.WriteString("\n" + comment(f.Doc, "# "))
			fmt.Fprintf(&b, "# Environment: %s.\n", f.Env)
		}
		v, set := f.format(c)
		switch {
		case !set:
			fmt.Fprintf(&b, "# %s = %s\n", name, f.unsetDoc(c))
		case f.Type == "list":
			items := strings.Split(v, ", ")
			for i, it := range items {
				items[i] = quote(it)
			}
			fmt.Fprintf(&b, "%s = [%s]\n", name, strings.Join(items, ", "))
		case f.Type == "string" || f.Type == "duration" && v != "0":
			fmt.Fprintf(&b, "%s = %s\n", name, quote(v))
		default:
			fmt.Fprintf(&b, "%s = %s\n", name, v)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// comment wraps text into lines of at most 78 bytes, each starting with
// prefix.
func comment(text, prefix string) string {
	var b strings.Builder
	line := prefix
	for _, word := range strings.Fields(text) {
		if line != prefix && len(line)+1+len(word) > 78 {
			b.WriteString(line + "\n")
			line = prefix
		}
		if line != prefix {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
	return b.String()
}

// quote returns s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// redactDSN hides the password in a PostgreSQL DSN, URL or key=value form.
// What it cannot parse but might hold a password, it hides whole.
func redactDSN(dsn string) string {
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok {
		u, err := url.Parse(dsn)
		if err != nil || (u.User == nil && strings.Contains(rest, "@")) {
			// Unparsable, or an unescaped '/', '?' or '#' in the password
			// hid the user info from the parser.
			return scheme + "://" + redacted
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
		if u.RawQuery != "" {
			params := strings.Split(u.RawQuery, "&")
			for i, p := range params {
				k, _, _ := strings.Cut(p, "=")
				if name, err := url.QueryUnescape(k); err != nil || strings.EqualFold(name, "password") {
					params[i] = k + "=" + redacted
				}
			}
			u.RawQuery = strings.Join(params, "&")
		}
		return u.String()
	}
	if !strings.Contains(dsn, "=") {
		return dsn // a file path
	}
	return redactKeywords(dsn)
}

// redactKeywords hides the password in a libpq key=value connection string
// (host=db user=app password='s3 cret'), parsed as pgx parses it.
func redactKeywords(dsn string) string {
	const space = " \t\n\r\v\f"
	var out strings.Builder
	s := dsn
	for {
		trimmed := strings.TrimLeft(s, space)
		out.WriteString(s[:len(s)-len(trimmed)])
		s = trimmed
		if s == "" {
			return out.String()
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return hideIfPassword(dsn)
		}
		key := strings.Trim(s[:eq], space)
		rest := strings.TrimLeft(s[eq+1:], space)
		out.WriteString(s[:len(s)-len(rest)]) // "key =  "
		s = rest
		var end int // the value is s[:end], quotes included
		if s != "" && s[0] == '\'' {
			end = 1
			for end < len(s) && s[end] != '\'' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return hideIfPassword(dsn) // unterminated quote
			}
			end++
		} else {
			for end < len(s) && !strings.ContainsRune(space, rune(s[end])) {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end > len(s) {
				return hideIfPassword(dsn) // trailing backslash
			}
		}
		if strings.EqualFold(key, "password") {
			out.WriteString(redacted)
		} else {
			out.WriteString(s[:end])
		}
		s = s[end:]
	}
}

// hideIfPassword is dsn, or all of it redacted when it mentions a password.
func hideIfPassword(dsn string) string {
	if strings.Contains(strings.ToLower(dsn), "password") {
		return redacted
	}
	return dsn
}
