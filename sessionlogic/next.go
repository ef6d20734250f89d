package sessionlogic

import (
	"net/url"
	"strings"
)

// SafeNext returns next when it is a local path on this site, and fallback
// otherwise. It refuses anything a browser could resolve to another host:
// absolute URLs, scheme-relative "//host", backslash tricks ("/\host",
// which browsers treat as "//host"), control characters, and paths that
// decode to any of these.
func SafeNext(next, fallback string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return fallback
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fallback
		}
	}
	if strings.HasPrefix(next, "//") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	// A path that decodes to "//" or "/\" can be turned into an off-site
	// redirect by a proxy or framework that decodes before redirecting.
	if p, err := url.PathUnescape(u.EscapedPath()); err != nil ||
		strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		return fallback
	}
	return next
}
