package sessionlogic_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequireSessionCookie sends arbitrary Cookie headers through both
// guards: whatever the bytes, the answer is a redirect or a 401, never a
// panic, a 500, or a request waved through.
func FuzzRequireSessionCookie(f *testing.F) {
	for _, s := range []string{
		"sessionid=", "sessionid=abc", "sessionid=" + string(make([]byte, 10000)),
		"sessionid=\xff\xfe\x00", "a=b; sessionid=x; sessionid=y", `sessionid="quoted"`,
		"sessionid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ";;;=;", "sessionid=' OR 1=1 --",
	} {
		f.Add(s)
	}
	fx := newFixture(f, nil)
	reached := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	page, ajax := fx.m.RequireSession(reached), fx.m.RequireSessionAJAX(reached)
	f.Fuzz(func(t *testing.T, cookie string) {
		for _, h := range []http.Handler{page, ajax} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Cookie", cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusFound, http.StatusUnauthorized:
			default:
				t.Fatalf("Cookie %q: status %d", cookie, rec.Code)
			}
		}
	})
}
