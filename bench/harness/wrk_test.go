package harness

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// wrkScript's done() line is what WrkLoad reads: every field lands where
// it belongs, and output without the line is an error, not a zero rate.
func TestParseWrk(t *testing.T) {
	out := []byte("Running 2s test @ http://127.0.0.1:1/api/me\n  1 threads and 64 connections\n" +
		"SESSIONMON-WRK requests=4242 duration_us=2000123 status=7 connect=1 read=2 write=3 timeout=4 p50_us=1500 p99_us=9100\n")
	got, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkRun{requests: 4242, status: 7, socketErrors: 10, duration: 2000123 * time.Microsecond,
		p50: 1500 * time.Microsecond, p99: 9100 * time.Microsecond}
	if got != want {
		t.Fatalf("parseWrk = %+v, want %+v", got, want)
	}
	if _, err := parseWrk([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); err == nil {
		t.Fatal("parseWrk of output without the summary line: no error")
	}
}

// WrkLoad end to end against a small server: every request carries one
// of the tokens as the named cookie (a random one: most tokens are seen),
// 2xx are counted as operations and the rest as Non2xx. Needs wrk.
func TestWrkLoad(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed")
	}
	tokens := []string{"a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8"}
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[c.Value]++
		mu.Unlock()
		if c.Value == "h8" { // one token of eight is refused
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	res, err := Wrk{Threads: 1, Dir: t.TempDir()}.Load(t.Context(), srv.URL+"/api/me", "sid", tokens, 4, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(tokens) || seen[""] != 0 {
		t.Errorf("cookies seen: %v, want every token", seen)
	}
	if res.Ops == 0 || res.Non2xx == 0 || res.Ops+res.Non2xx != res.All || res.Errors != 0 {
		t.Errorf("result %+v: want 2xx and 401s, adding up to All, no socket errors", res)
	}
	if refused := float64(res.Non2xx) / float64(res.All); refused < 0.05 || refused > 0.25 {
		t.Errorf("%.0f %% refused, want about one in eight (random cookies)", 100*refused)
	}
}
