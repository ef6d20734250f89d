package sessionlogic

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/dashboard?tab=2#x", "/dashboard?tab=2#x"},
		{"/a/b%20c", "/a/b%20c"},
		{"", "/"},
		{"dashboard", "/"},
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"https://evil.com", "/"},
		{"http:/evil.com", "/"},
		{"/\\evil.com", "/"},
		{"\\\\evil.com", "/"},
		{"/%2F%2Fevil.com", "/"},
		{"/%2f/evil.com", "/"},
		{"/%5Cevil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"/\t/evil.com", "/"},
		{"/\r\nLocation: https://evil.com", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	} {
		if got := SafeNext(tc.in, "/"); got != tc.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//evil", "https://evil", "/\\evil", "/%2F%2Fevil", "javascript:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := SafeNext(next, "/")
		if got == "/" {
			return
		}
		// Whatever is let through must resolve to this host when a browser
		// follows it from https://site.example/login.
		base, _ := url.Parse("https://site.example/login")
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("SafeNext let through unparsable %q", got)
		}
		if r := base.ResolveReference(u); r.Host != "site.example" || r.Scheme != "https" {
			t.Fatalf("SafeNext(%q) = %q resolves to %s", next, got, r)
		}
		if strings.ContainsAny(got, "\\\r\n\t") || strings.HasPrefix(got, "//") {
			t.Fatalf("SafeNext(%q) = %q", next, got)
		}
	})
}
