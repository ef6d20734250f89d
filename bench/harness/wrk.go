package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The wrk generator. HTTPLoad's Go client runs in the harness process and
// competes for the same cores as the servers and PostgreSQL: on 2 cores it
// costs about as much CPU per request as the server it measures. Issue 11
// measured with wrk (C, an event loop per thread), which costs far less per
// request; WrkLoad drives it the same way HTTPLoad drives the Go client:
// conns keep-alive connections, GET with a random cookie of tokens on every
// request, an unmeasured warm-up, then d measured.

// wrkScript picks a random cookie per request. Each thread formats every
// request once in init (one string per token) and then only indexes the
// table: formatting per request would cost the generator CPU that the
// contenders need. Seeds differ per thread (setup numbers them), so the
// threads do not send the same sequence.
const wrkScript = `local n = 0
function setup(thread)
  n = n + 1
  thread:set("thread_no", n)
end

function init(args)
  local reqs = {}
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("GET", nil, {["Cookie"] = args[2] .. "=" .. line})
  end
  prepared = reqs
  math.randomseed(os.time() * 1000 + (thread_no or 0))
end

function request()
  return prepared[math.random(#prepared)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SESSIONMON-WRK requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`

var wrkLine = regexp.MustCompile(`SESSIONMON-WRK requests=(\d+) duration_us=(\d+) status=(\d+) connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+) p50_us=(\d+) p99_us=(\d+)`)

// Wrk is the wrk generator's settings: Threads is wrk -t (each thread gets
// conns/Threads connections), Dir a directory for its script and cookies.
type Wrk struct {
	Threads int
	Dir     string
}

// WrkCommand is the command line of a measured run, for the report.
func (g Wrk) WrkCommand(conns int, d time.Duration) string {
	return fmt.Sprintf("wrk -t %d -c %d -d %s --timeout 10s -s random-cookie.lua URL/api/me -- tokens COOKIE", g.Threads, conns, wrkSeconds(d))
}

func wrkSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
}

// Load runs wrk against url: warmup unmeasured (its own wrk run on fresh
// connections), then d measured. Rate counts 2xx only: wrk counts an
// answer of status ≥ 400 as a status error, and these servers answer
// nothing in 3xx on GET /api/me. P50/P99 are wrk's percentiles over every
// answer of the measured run. All adds both runs' answers (the per-request
// write figures divide by it, as HTTPLoad's All includes its warm-up).
func (g Wrk) Load(ctx context.Context, url, cookieName string, tokens []string, conns int, warmup, d time.Duration) (Result, error) {
	script := filepath.Join(g.Dir, "random-cookie.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return Result{}, err
	}
	cookies := filepath.Join(g.Dir, "tokens.txt")
	if err := os.WriteFile(cookies, []byte(strings.Join(tokens, "\n")+"\n"), 0o600); err != nil {
		return Result{}, err
	}
	run := func(d time.Duration) (wrkRun, error) {
		threads := max(1, min(g.Threads, conns))
		args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", wrkSeconds(d),
			"--timeout", "10s", "-s", script, url, "--", cookies, cookieName}
		cmd := exec.CommandContext(ctx, "wrk", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return wrkRun{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		w, err := parseWrk(out)
		w.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return w, err
	}
	var all int64
	var cpu time.Duration
	if warmup > 0 {
		w, err := run(warmup)
		if err != nil {
			return Result{}, err
		}
		all += w.requests
		cpu += w.cpu
	}
	m, err := run(d)
	if err != nil {
		return Result{}, err
	}
	all += m.requests
	cpu += m.cpu
	ok := m.requests - m.status
	r := Result{
		Ops: ok, All: all, Non2xx: m.status, Errors: m.socketErrors, GenCPU: cpu,
		Elapsed: m.duration, P50: m.p50, P99: m.p99,
	}
	if m.duration > 0 {
		r.Rate = float64(ok) / m.duration.Seconds()
	}
	return r, nil
}

type wrkRun struct {
	requests, status, socketErrors int64
	duration, p50, p99, cpu        time.Duration
}

// parseWrk reads the line wrkScript's done() prints.
func parseWrk(out []byte) (wrkRun, error) {
	m := wrkLine.FindSubmatch(out)
	if m == nil {
		return wrkRun{}, fmt.Errorf("wrk: no summary line in its output:\n%s", out)
	}
	var v [9]int64
	for i := range v {
		n, err := strconv.ParseInt(string(m[i+1]), 10, 64)
		if err != nil {
			return wrkRun{}, fmt.Errorf("wrk: %q: %w", m[i+1], err)
		}
		v[i] = n
	}
	return wrkRun{
		requests: v[0], duration: time.Duration(v[1]) * time.Microsecond, status: v[2],
		socketErrors: v[3] + v[4] + v[5] + v[6],
		p50:          time.Duration(v[7]) * time.Microsecond, p99: time.Duration(v[8]) * time.Microsecond,
	}, nil
}
