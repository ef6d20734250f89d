package security_test

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Fuzz modes (the low bits of the mode argument).
const (
	modeRaw       = 0 // the body as given, with the given Content-Type
	modeFields    = 1 // username, password and next url-encoded, then "&" and the body
	modeMultipart = 2 // the fields as multipart/form-data (the server reads only url-encoded forms)
	modeQuery     = 4 // flag: also put the fields in the query string
	modeCrossSite = 8 // flag: Sec-Fetch-Site: cross-site
)

// loginStatuses are the only answers POST /login may give to any input.
var loginStatuses = map[int]bool{
	http.StatusSeeOther:              true, // logged in
	http.StatusBadRequest:            true, // unreadable form, missing fields
	http.StatusUnauthorized:          true, // invalid credentials
	http.StatusForbidden:             true, // cross-site, or an inactive account
	http.StatusRequestEntityTooLarge: true, // body over the limit
	http.StatusUnsupportedMediaType:  true,
	http.StatusTooManyRequests:       true, // throttled (failures pile up while fuzzing)
}

// FuzzLoginForm posts arbitrary bodies, content types and field values to
// /login on a real server over SQLite. Whatever arrives, the answer is one
// of loginStatuses: never a 500, never a panic (recovered panics are
// counted and fail the run). A 303 means a real login: an url-encoded body
// with both fields (never credentials from the query string), a session
// cookie, and a Location on this site.
//
// Run it with: go test -run '^$' -fuzz FuzzLoginForm -fuzztime 30s ./e2e/security/
func FuzzLoginForm(f *testing.F) {
	form := "application/x-www-form-urlencoded"
	good := "username=alice&password=alice-password-1"
	for _, seed := range []struct {
		contentType string
		body        string
		user, pass  string
		next        string
		mode        uint8
	}{
		{form, good, "", "", "", modeRaw},
		{form, good + "&next=%2F%2Fevil.example", "", "", "", modeRaw},
		{form, "username=alice&password=wrong-password", "", "", "", modeRaw},
		{form, "username=nobody&password=whatever-1", "", "", "", modeRaw},
		{form, "", "", "", "", modeRaw},
		{"", good, "", "", "", modeRaw},
		{"text/plain", good, "", "", "", modeRaw},
		{"application/json", `{"username":"alice","password":"alice-password-1"}`, "", "", "", modeRaw},
		{form + "; charset", good, "", "", "", modeRaw},
		{form + "; charset=utf-16", good, "", "", "", modeRaw},
		{"multipart/form-data", good, "", "", "", modeRaw},
		{form, "username=%zz&password=%", "", "", "", modeRaw},
		{form, "username=alice;password=alice-password-1", "", "", "", modeRaw},
		{form, "username=alice&username=bob&password=alice-password-1&password=x", "", "", "", modeRaw},
		{form, "username=" + strings.Repeat("a", 200) + "&password=" + strings.Repeat("p", 2000), "", "", "", modeRaw},
		{form, "username=" + strings.Repeat("a", 17<<10), "", "", "", modeRaw},
		{form, "username=%00alice&password=%00", "", "", "", modeRaw},
		{form, "username=%C3%28&password=%FF%FE", "", "", "", modeRaw},
		{form, "", alice, alicePassword, "//evil.example", modeFields},
		{form, "", alice, alicePassword, "/\t/evil.example", modeFields},
		{form, "x=1", "  alice  ", alicePassword, "javascript:alert(1)", modeFields},
		{form, "", "ålice\u202e", "pässwörd\x00", "/%5C%5Cevil", modeFields},
		{form, "", alice, alicePassword, "", modeMultipart},
		{form, "", alice, alicePassword, "/", modeRaw | modeQuery}, // credentials only in the query string
		{form, "", alice, alicePassword, "/", modeFields | modeCrossSite},
	} {
		f.Add(seed.contentType, []byte(seed.body), seed.user, seed.pass, seed.next, seed.mode)
	}

	e := newEnv(f, backends[0], envOpts{})
	f.Fuzz(func(t *testing.T, contentType string, body []byte, username, password, next string, mode uint8) {
		fields := url.Values{"username": {username}, "password": {password}, "next": {next}}
		switch mode & 3 {
		case modeFields:
			b := fields.Encode()
			if len(body) > 0 {
				b += "&" + string(body)
			}
			body = []byte(b)
		case modeMultipart:
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for k, v := range fields {
				_ = mw.WriteField(k, v[0])
			}
			_ = mw.Close()
			body, contentType = buf.Bytes(), mw.FormDataContentType()
		}
		target := e.ts.URL + "/login"
		if mode&modeQuery != 0 {
			target += "?" + fields.Encode()
		}
		req, err := http.NewRequest("POST", target, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if !validHeaderValue(contentType) {
			return // no client can send it
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if mode&modeCrossSite != 0 {
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		resp, err := e.HTTP.Do(req)
		if err != nil {
			t.Fatalf("POST /login: %v", err)
		}
		defer resp.Body.Close()
		what := fmt.Sprintf("POST /login (Content-Type %q, %d-byte body, mode %d)", contentType, len(body), mode)
		if !loginStatuses[resp.StatusCode] {
			t.Fatalf("%s: status %d", what, resp.StatusCode)
		}
		if resp.StatusCode != http.StatusSeeOther {
			return
		}
		// A login happened: it must have been a real one.
		mt, _, _ := mime.ParseMediaType(contentType)
		vals, err := url.ParseQuery(string(body))
		if mt != "application/x-www-form-urlencoded" || err != nil || vals.Get("username") == "" || vals.Get("password") == "" {
			t.Fatalf("%s: 303 without username and password in an url-encoded body", what)
		}
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == e.cookie && c.Value != "" {
				cookie = c
			}
		}
		if cookie == nil {
			t.Fatalf("%s: 303 without a session cookie", what)
		}
		base, _ := url.Parse(e.ts.URL)
		if loc := resp.Header.Get("Location"); !isLocal(loc, base) {
			t.Fatalf("%s: Location %q leaves the site", what, loc)
		}
	})
}

// validHeaderValue reports whether a client can send v as a header value.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
