package django

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Environment variables that carry the site's secrets. They are read
// directly, never through a flag or the config file's printable keys, so a
// secret is never on a command line (visible in ps) and never printed.
const (
	EnvSecretKey          = "SESSIONMON_DJANGO_SECRET_KEY"
	EnvSecretKeyFallbacks = "SESSIONMON_DJANGO_SECRET_KEY_FALLBACKS" // one key per line
)

// LoadKeys reads the site's SECRET_KEY and SECRET_KEY_FALLBACKS: from file
// when it is given (its first non-empty line is SECRET_KEY, each further
// non-empty line a fallback; surrounding whitespace is dropped, as a
// trailing newline always is), else from the environment through env (nil:
// os.LookupEnv). Neither: the zero Keys (decode only). An empty or
// unreadable file is an error that never contains the file's content.
func LoadKeys(file string, env func(string) (string, bool)) (Keys, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var lines []string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Keys{}, fmt.Errorf("django secret key file: %w", err)
		}
		lines = nonEmptyLines(string(b))
		if len(lines) == 0 {
			return Keys{}, fmt.Errorf("django secret key file %s: empty", file)
		}
	} else if v, ok := env(EnvSecretKey); ok {
		lines = nonEmptyLines(v)
		if len(lines) != 1 {
			return Keys{}, errors.New(EnvSecretKey + ": want one key (fallbacks go in " + EnvSecretKeyFallbacks + ", one per line)")
		}
		if fb, ok := env(EnvSecretKeyFallbacks); ok {
			lines = append(lines, nonEmptyLines(fb)...)
		}
	}
	if len(lines) == 0 {
		return Keys{}, nil
	}
	return NewKeys(lines[0], lines[1:]...), nil
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
