// Command djangodash answers an operator's question about the real
// dashboard on a large Django site: "if I run `sessionmon watch --source
// django` on my 1M-session site for hours, how much memory, how many
// threads and fds does it take, and does it stay flat?" (issue 10: the
// dashboard's RSS at most 128 MB at 1M django_session rows):
//
//	cd bench && go run ./cmd/djangodash -n 1000000 -stores pg,sqlite -duration 60s [-sample 10s] [-memlimit 110MiB] [-baseline REV]
//
// It builds the sessionmon binary from this checkout (go build at the
// module root) and, for each store, creates Django 3.2's tables holding n
// sessions (harness.LoadDjango, the rows djangopoll measures: a fresh
// PostgreSQL schema, a temporary SQLite file). Then it runs the binary as
// an operator does, `sessionmon watch --source django --db …` with the
// site's SECRET_KEY in a file (SESSIONMON_DJANGO_SECRET_KEY_FILE), in a
// detached tmux session of 200x50 on a private socket, and plays the site
// meanwhile: a writer at fixed rates (-saves: a request of a logged-in
// user, SESSION_SAVE_EVERY_REQUEST's UPDATE of session_data and
// expire_date of a random session, for the same user; -logins: an INSERT
// of a new session; -logouts: Django's flush, a DELETE of a random one).
//
// Every -sample, from the launch on, it reads the dashboard process's
// /proc: VmRSS and VmHWM, threads, open fds and CPU time, and what its
// screen shows (the header's badge and active count). Rows of the table
// in phase "start" are before the first screen that lists sessions (at
// 1M rows the dashboard builds its index of the table first, within its
// polls' timeouts: minutes; -ready-timeout bounds the wait), "live" after
// it; the run lasts -duration from then. At the end it checks the screen
// (live, sessions counted, rows listed; it fails otherwise, as it does
// when the dashboard exits), times how soon after the writer stops the
// header's active count is the table's count(*), counts the dashboard's goroutines from the
// stack dump of a SIGQUIT, and prints per store a markdown table, the
// writer's achieved rates and latencies (a dashboard must not stall the
// site), and a summary: peak HWM, RSS at the end, the RSS slope over the
// second half of the live period (MB/min), fds and threads first (live)
// and last. -memlimit sets GOMEMLIMIT for the dashboard.
//
// -baseline REV also builds the binary of git revision REV (in a
// temporary worktree) and runs it first, on the same site, for the same
// duration: a before/after in one sitting, on one machine load, which
// figures from another day are not.
//
// The tmux server, the schema and the files are removed at the end, also
// on an error and on Ctrl-C.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"sessionmon/bench/harness"
	"sessionmon/data/django"
)

type config struct {
	n        int
	stores   []string
	duration time.Duration
	sample   time.Duration
	memLimit string
	pg       string
	rates    [numKinds]float64
	ready    time.Duration
	baseline string
	pprof    string
}

func main() {
	var c config
	stores := flag.String("stores", "pg,sqlite", "the site's database: pg, sqlite or both")
	flag.IntVar(&c.n, "n", 1000000, "django_session rows")
	flag.DurationVar(&c.duration, "duration", 60*time.Second, "how long to watch once the dashboard lists sessions")
	flag.DurationVar(&c.sample, "sample", 10*time.Second, "sampling interval")
	flag.StringVar(&c.memLimit, "memlimit", "", "GOMEMLIMIT for the dashboard, e.g. 110MiB (empty: none)")
	flag.StringVar(&c.pg, "pg", harness.DefaultDSN, "PostgreSQL server")
	flag.Float64Var(&c.rates[save], "saves", 100, "site requests per second that save a session (UPDATE)")
	flag.Float64Var(&c.rates[login], "logins", 5, "logins per second (INSERT)")
	flag.Float64Var(&c.rates[logout], "logouts", 5, "logouts per second (DELETE)")
	flag.DurationVar(&c.ready, "ready-timeout", 15*time.Minute, "longest wait for the dashboard's first screen with sessions")
	flag.StringVar(&c.pprof, "pprof", "", "build with -tags sessionmon_pprof and serve Go's profiles on this address (e.g. 127.0.0.1:6060; empty: a release build)")
	flag.StringVar(&c.baseline, "baseline", "", "a git revision whose binary runs first on the same site (empty: none)")
	flag.Parse()
	c.stores = strings.Split(*stores, ",")
	if c.n < 1 || c.sample <= 0 || c.duration <= 0 {
		fmt.Fprintln(os.Stderr, "djangodash: -n, -sample and -duration must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "djangodash:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	tmp, err := os.MkdirTemp("", "djangodash")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	var bins []binary
	if c.baseline != "" {
		b, err := buildRevision(ctx, root, c.baseline, tmp, c.pprof != "")
		if err != nil {
			return err
		}
		bins = append(bins, b)
	}
	b, err := buildSessionmon(ctx, root, filepath.Join(tmp, "sessionmon"), c.pprof != "")
	if err != nil {
		return err
	}
	bins = append(bins, b)
	var revs []string
	for _, b := range bins {
		revs = append(revs, b.rev)
	}
	fmt.Printf("djangodash: sessionmon %s, %s, GOMAXPROCS %d, %s, %s\n", strings.Join(revs, " then "), runtime.Version(), runtime.GOMAXPROCS(0),
		harness.PGVersion(ctx, c.pg), time.Now().UTC().Format(time.RFC3339))
	var failed []string
	for _, store := range c.stores {
		site, err := harness.LoadDjango(ctx, store, c.pg, c.n)
		if err != nil {
			return err
		}
		for _, b := range bins {
			r, err := soak(ctx, c, site, b)
			if r != nil {
				r.print(os.Stdout)
			}
			if err != nil {
				if ctx.Err() != nil {
					site.Close()
					return err
				}
				fmt.Printf("\n**%s, %s: FAILED: %v**\n", store, b.rev, err)
				failed = append(failed, store+" "+b.rev)
			}
		}
		site.Close()
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed on %s", strings.Join(failed, ", "))
	}
	return nil
}

type binary struct{ path, rev string }

// moduleRoot is the directory of the module this bench replaces
// sessionmon with (the checkout's root).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sessionmon").Output()
	if err != nil {
		return "", fmt.Errorf("find the sessionmon module to build (run this from bench/): go list -m sessionmon: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// buildSessionmon builds the binary an operator runs from the checkout at
// root.
func buildSessionmon(ctx context.Context, root, bin string, pprof bool) (binary, error) {
	args := []string{"build", "-o", bin}
	if pprof {
		args = append(args, "-tags", "sessionmon_pprof")
	}
	build := exec.CommandContext(ctx, "go", append(args, ".")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return binary{}, fmt.Errorf("go build in %s: %w\n%s", root, err, out)
	}
	rev := "(no git)"
	if out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output(); err == nil {
		rev = strings.TrimSpace(string(out))
	}
	return binary{bin, rev}, nil
}

// buildRevision builds the binary of git revision rev of the checkout at
// root, in a temporary worktree under dir.
func buildRevision(ctx context.Context, root, rev, dir string, pprof bool) (binary, error) {
	wt := filepath.Join(dir, "baseline")
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "worktree", "add", "--detach", wt, rev).CombinedOutput(); err != nil {
		return binary{}, fmt.Errorf("git worktree add %s: %w\n%s", rev, err, out)
	}
	defer exec.Command("git", "-C", root, "worktree", "remove", "--force", wt).Run()
	// Named sessionmon too: the dashboard is found by its process name.
	if err := os.MkdirAll(filepath.Join(dir, "baseline-bin"), 0o755); err != nil {
		return binary{}, err
	}
	return buildSessionmon(ctx, wt, filepath.Join(dir, "baseline-bin", "sessionmon"), pprof)
}

// sample is one reading of the dashboard process.
type sample struct {
	at      time.Duration // since launch
	live    bool          // after the first screen with sessions
	rssKB   int64
	hwmKB   int64
	threads int64
	fds     int
	cpu     time.Duration
	screen  screen
}

type result struct {
	store     string
	rev       string
	n         int
	memLimit  string
	readyAt   time.Duration // since launch; 0: never
	samples   []sample
	writer    *churn
	goroutine int // at the end, from the SIGQUIT dump; -1: unknown
	agree     string
	final     string
}

// soak loads a site on store, runs the dashboard on it while the site
// writes, and samples it. The result is returned with what was measured
// even when the run fails.
func soak(ctx context.Context, c config, site *harness.DjangoSite, bin binary) (*result, error) {
	store := site.Store
	dir, err := os.MkdirTemp("", "djangodash-"+store)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	w, err := newChurn(site, c.rates)
	if err != nil {
		return nil, err
	}
	defer w.db.Close()
	d, err := startDashboard(ctx, dir, bin.path, site.DSN, c.memLimit, c.pprof)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	r := &result{store: store, rev: bin.rev, n: c.n, memLimit: c.memLimit, writer: w, goroutine: -1}
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); w.run(wctx) }()
	defer func() { stopWriter(); <-writerDone }()

	var readyAt time.Time
	take := func() error {
		s, err := d.sample()
		s.live = !readyAt.IsZero()
		r.samples = append(r.samples, s)
		if err == nil && !readyAt.IsZero() && s.screen.badge != "live" {
			fmt.Fprintf(os.Stderr, "djangodash: %s at %.0f s: the dashboard's badge says %q\n", store, s.at.Seconds(), s.screen.badge)
		}
		return err
	}
	if err := take(); err != nil {
		return r, err
	}
	check := time.NewTicker(time.Second)
	defer check.Stop()
	nextSample := d.started.Add(c.sample)
	for {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-check.C:
		}
		if !d.alive() {
			return r, d.exited()
		}
		now := time.Now()
		if readyAt.IsZero() {
			text, err := d.capture()
			if err != nil {
				return r, err
			}
			if sc := parseScreen(text); sc.active > 0 && sc.rows > 0 {
				readyAt = now
				r.readyAt = now.Sub(d.started)
				fmt.Fprintf(os.Stderr, "djangodash: %s: the dashboard lists sessions %.1f s after launch\n", store, r.readyAt.Seconds())
				if err := take(); err != nil {
					return r, err
				}
			} else if now.Sub(d.started) > c.ready {
				return r, fmt.Errorf("no session on the dashboard's screen %v after launch; it shows:\n%s", c.ready, text)
			}
		}
		if !now.Before(nextSample) {
			nextSample = nextSample.Add(c.sample)
			if err := take(); err != nil {
				return r, err
			}
		}
		if !readyAt.IsZero() && now.Sub(readyAt) >= c.duration {
			break
		}
	}
	stopWriter()
	<-writerDone
	if err := take(); err != nil {
		return r, err
	}
	r.agree, err = agreement(ctx, w, d)
	if err != nil {
		return r, err
	}
	text, err := d.capture()
	if err != nil {
		return r, err
	}
	r.final = text
	sc := parseScreen(text)
	r.goroutine, err = d.goroutines()
	if err != nil {
		fmt.Fprintln(os.Stderr, "djangodash: goroutines:", err)
	}
	if sc.badge != "live" || sc.active == 0 || sc.rows == 0 {
		return r, fmt.Errorf("the dashboard's last screen is not live with sessions (badge %q, %d active, %d rows)", sc.badge, sc.active, sc.rows)
	}
	return r, nil
}

// print writes the store's table and summary as markdown.
func (r *result) print(out *os.File) {
	limit := "unset"
	if r.memLimit != "" {
		limit = r.memLimit
	}
	fmt.Fprintf(out, "\n### %s, sessionmon %s, n=%d, GOMEMLIMIT %s\n\n", r.store, r.rev, r.n, limit)
	if r.readyAt > 0 {
		fmt.Fprintf(out, "First screen with sessions %.1f s after launch.\n", r.readyAt.Seconds())
	}
	fmt.Fprintf(out, "Site writer: %s\n\n", r.writer.summary())
	if r.agree != "" {
		fmt.Fprintf(out, "Once the writer stopped: %s\n\n", r.agree)
	}
	fmt.Fprintln(out, "| t (s) | phase | RSS MB | HWM MB | threads | fds | CPU s | screen |")
	fmt.Fprintln(out, "|---:|---|---:|---:|---:|---:|---:|---|")
	for _, s := range r.samples {
		phase := "start"
		if s.live {
			phase = "live"
		}
		fmt.Fprintf(out, "| %.0f | %s | %.1f | %.1f | %d | %d | %.1f | %s, %d active, %d rows |\n",
			s.at.Seconds(), phase, mb(s.rssKB), mb(s.hwmKB), s.threads, s.fds, s.cpu.Seconds(), s.screen.badge, s.screen.active, s.screen.rows)
	}
	fmt.Fprintln(out)
	live := r.liveSamples()
	if len(live) == 0 {
		fmt.Fprintln(out, "summary: the dashboard never listed sessions")
		return
	}
	first, last := live[0], r.samples[len(r.samples)-1]
	peak := int64(0)
	for _, s := range r.samples {
		peak = max(peak, s.hwmKB)
	}
	gor := "unknown"
	if r.goroutine >= 0 {
		gor = strconv.Itoa(r.goroutine)
	}
	fmt.Fprintf(out, "summary %s %s n=%d: peak HWM %.1f MB · RSS at end %.1f MB · RSS slope over the second half %s MB/min · fds %d → %d · threads %d → %d · goroutines at end %s · CPU %.1f s live over %.0f s\n",
		r.store, r.rev, r.n, mb(peak), mb(last.rssKB), slopeText(secondHalf(live)), first.fds, last.fds, first.threads, last.threads, gor,
		(last.cpu - first.cpu).Seconds(), (last.at - first.at).Seconds())
	var rss []float64
	for _, s := range live {
		rss = append(rss, mb(s.rssKB))
	}
	slices.Sort(rss)
	fmt.Fprintf(out, "live RSS over %d samples: min %.1f · median %.1f · p95 %.1f · max %.1f MB\n",
		len(rss), rss[0], rss[len(rss)/2], rss[len(rss)*95/100], rss[len(rss)-1])
	if r.final != "" {
		lines := strings.Split(strings.TrimRight(r.final, "\n "), "\n")
		fmt.Fprintf(out, "\nLast screen (first lines):\n\n```\n%s\n```\n", strings.Join(lines[:min(len(lines), 8)], "\n"))
	}
}

func (r *result) liveSamples() []sample {
	var live []sample
	for _, s := range r.samples {
		if s.live {
			live = append(live, s)
		}
	}
	return live
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// secondHalf is the samples from the middle of the live period on.
func secondHalf(live []sample) []sample {
	if len(live) == 0 {
		return nil
	}
	mid := live[0].at + (live[len(live)-1].at-live[0].at)/2
	i := slices.IndexFunc(live, func(s sample) bool { return s.at >= mid })
	return live[i:]
}

func slopeText(ss []sample) string {
	if len(ss) < 2 {
		return "n/a (fewer than 2 samples)"
	}
	xs, ys := make([]float64, len(ss)), make([]float64, len(ss))
	for i, s := range ss {
		xs[i], ys[i] = s.at.Minutes(), mb(s.rssKB)
	}
	return fmt.Sprintf("%+.2f", slope(xs, ys))
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / den
}

// screen is what the dashboard's screen says: the header's badge ("live",
// "stale 12s", "query failed", …), its active count, and how many table
// rows name a generated user.
type screen struct {
	badge  string
	active int64
	rows   int
}

var (
	activeRE = regexp.MustCompile(`(\d+) active`)
	userRE   = regexp.MustCompile(`\buser\d{7}\b`)
)

// parseScreen reads a capture of the dashboard (tui/header.go's two
// lines, then the table).
func parseScreen(text string) screen {
	var s screen
	lines := strings.Split(text, "\n")
	first := ""
	if len(lines) > 0 {
		first = lines[0]
	}
	switch {
	case strings.Contains(first, "● live"):
		s.badge = "live"
	case strings.Contains(first, "! query failed"):
		s.badge = "query failed"
	case strings.Contains(first, "◌ reading the store"):
		s.badge = "reading the store" // the first pass over the table
	case strings.Contains(first, "✗ "):
		// "✗ stale 12s, retry in 3s", "✗ no data yet  poll 1s": up to
		// the first comma or the gap before the next part.
		b := first[strings.Index(first, "✗ ")+len("✗ "):]
		if i := strings.IndexAny(b, ","); i >= 0 {
			b = b[:i]
		}
		b, _, _ = strings.Cut(b, "  ")
		s.badge = b
	default:
		s.badge = "none"
	}
	for i, l := range lines {
		if i < 2 {
			if m := activeRE.FindStringSubmatch(l); m != nil && s.active == 0 {
				s.active, _ = strconv.ParseInt(m[1], 10, 64)
			}
			continue
		}
		if userRE.MatchString(l) {
			s.rows++
		}
	}
	return s
}

// agreement compares the dashboard's active count with the table's once
// the site stops writing: how long until the header says what a count
// of the table says (issue 10: counts under 10 s old), up to 30 s.
func agreement(ctx context.Context, w *churn, d *dashboard) (string, error) {
	q := "SELECT count(*) FROM django_session WHERE expire_date > $1"
	if w.sqlt {
		q = "SELECT count(*) FROM django_session WHERE expire_date > ?"
	}
	var want int64
	if err := w.db.QueryRowContext(ctx, q, w.timeArg(time.Now())).Scan(&want); err != nil {
		return "", fmt.Errorf("count the table: %w", err)
	}
	t0 := time.Now()
	var shown int64
	for time.Since(t0) < 30*time.Second {
		text, err := d.capture()
		if err != nil {
			return "", err
		}
		if shown = parseScreen(text).active; shown == want {
			return fmt.Sprintf("the header's %d active matched the table's count after %.0f s", want, time.Since(t0).Seconds()), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Sprintf("the header still said %d active after 30 s, the table has %d (%+d)", shown, want, shown-want), nil
}

// dashboard is `sessionmon watch` running in a detached tmux session on
// a private socket.
type dashboard struct {
	socket     string // tmux -L name
	socketPath string // its path, which tmux leaves behind at kill-server
	dir        string
	pid        int
	started    time.Time
	lastErr    error // why alive last said no, when tmux did not answer
}

// startDashboard runs the binary as an operator does: the secret in a
// file, a clean environment, its own working directory (no stray
// sessionmon.toml), the audit file in dir. Its stderr goes to a file (the
// dashboard draws on stdout) so an error at exit and the SIGQUIT stack
// dump can be read.
func startDashboard(ctx context.Context, dir, bin, dsn, memLimit, pprofAddr string) (*dashboard, error) {
	secretFile := filepath.Join(dir, "secret_key")
	if err := os.WriteFile(secretFile, []byte(harness.DjangoSecret+"\n"), 0o600); err != nil {
		return nil, err
	}
	env := []string{
		"HOME=" + shellQuote(os.Getenv("HOME")), "PATH=/usr/bin:/bin", `TERM="$TERM"`, "LANG=C.UTF-8", "GOTRACEBACK=all",
		"SESSIONMON_DJANGO_SECRET_KEY_FILE=" + shellQuote(secretFile),
		"SESSIONMON_DJANGO_AUDIT_FILE=" + shellQuote(filepath.Join(dir, "audit.db")),
	}
	if memLimit != "" {
		env = append(env, "GOMEMLIMIT="+shellQuote(memLimit))
	}
	if pprofAddr != "" {
		env = append(env, "SESSIONMON_PPROF_ADDR="+shellQuote(pprofAddr))
		if rate := os.Getenv("SESSIONMON_MEMPROFILERATE"); rate != "" { // see pprof_debug.go
			env = append(env, "SESSIONMON_MEMPROFILERATE="+shellQuote(rate))
		}
	}
	script := fmt.Sprintf("exec env -i %s %s watch --source django --db %s 2>%s\n",
		strings.Join(env, " "), shellQuote(bin), shellQuote(dsn), shellQuote(filepath.Join(dir, "stderr")))
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte(script), 0o600); err != nil {
		return nil, err
	}
	// remain-on-exit keeps a dashboard that exits on screen, to be read.
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\n"), 0o600); err != nil {
		return nil, err
	}
	d := &dashboard{socket: fmt.Sprintf("djdash-%d-%s", os.Getpid(), filepath.Base(dir)), dir: dir, started: time.Now()}
	if _, err := d.tmux("-f", conf, "new-session", "-d", "-s", "dash", "-x", "200", "-y", "50", "-c", dir, "sh "+shellQuote(filepath.Join(dir, "run.sh"))); err != nil {
		d.stop()
		return nil, err
	}
	out, err := d.tmux("display", "-p", "-t", "dash", "#{pane_pid} #{socket_path}")
	if err == nil {
		pid, path, _ := strings.Cut(strings.TrimSpace(out), " ")
		d.socketPath = path
		d.pid, err = strconv.Atoi(pid)
	}
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("the dashboard's pid: %w", err)
	}
	// sh execs env, which execs the binary: the pane's pid becomes it.
	if !harness.WaitFor(ctx, 5*time.Second, func() bool {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", d.pid))
		return strings.TrimSpace(string(comm)) == "sessionmon" || !d.alive()
	}) || !d.alive() {
		err := d.exited()
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *dashboard) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-L", d.socket}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("tmux %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// alive reports whether the dashboard still runs (the pane is not dead).
// A tmux command that fails is asked again: on a loaded machine one failed
// now and then, and ended a run whose dashboard was running.
func (d *dashboard) alive() bool {
	var err error
	for try := 0; try < 5; try++ {
		var out string
		if out, err = d.tmux("display", "-p", "-t", "dash", "#{pane_dead}"); err == nil {
			return strings.TrimSpace(out) == "0"
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.lastErr = err
	return false
}

// exited says how the dashboard ended: its exit status, its stderr and
// its last screen.
func (d *dashboard) exited() error {
	status, _ := d.tmux("display", "-p", "-t", "dash", "#{pane_dead_status}#{?pane_dead_signal, signal #{pane_dead_signal},}")
	stderr, _ := os.ReadFile(filepath.Join(d.dir, "stderr"))
	text, _ := d.capture()
	why := ""
	if d.lastErr != nil {
		why = " (" + d.lastErr.Error() + ")"
	}
	return fmt.Errorf("the dashboard exited (status %s)%s; stderr:\n%s\nscreen:\n%s",
		strings.TrimSpace(status), why, bytes.TrimSpace(stderr), strings.TrimRight(text, "\n "))
}

func (d *dashboard) capture() (string, error) {
	return d.tmux("capture-pane", "-p", "-t", "dash")
}

func (d *dashboard) sample() (sample, error) {
	s := sample{at: time.Since(d.started)}
	st, err := harness.ProcStatusOf(d.pid, "VmRSS", "VmHWM", "Threads")
	if err != nil {
		return s, fmt.Errorf("read the dashboard's /proc: %v; %w", err, d.exited())
	}
	s.rssKB, s.hwmKB, s.threads = st["VmRSS"], st["VmHWM"], st["Threads"]
	s.fds, _ = harness.ProcFDs(d.pid)
	s.cpu, _ = harness.ProcCPU(d.pid)
	text, err := d.capture()
	if err != nil {
		return s, err
	}
	s.screen = parseScreen(text)
	return s, nil
}

// goroutines ends the dashboard with SIGQUIT, whose stack dump (to the
// stderr file) lists every goroutine.
func (d *dashboard) goroutines() (int, error) {
	if err := syscall.Kill(d.pid, syscall.SIGQUIT); err != nil {
		return -1, err
	}
	if !harness.WaitFor(context.Background(), 10*time.Second, func() bool { return !d.alive() }) {
		return -1, errors.New("the dashboard did not exit on SIGQUIT")
	}
	dump, err := os.ReadFile(filepath.Join(d.dir, "stderr"))
	if err != nil {
		return -1, err
	}
	n := 0
	for _, l := range strings.Split(string(dump), "\n") {
		if strings.HasPrefix(l, "goroutine ") && strings.HasSuffix(l, ":") {
			n++
		}
	}
	if n == 0 {
		return -1, fmt.Errorf("no goroutine in the stack dump: %.300s", dump)
	}
	return n, nil
}

// stop ends the dashboard (SIGTERM, then SIGKILL: only its own pid) and
// the private tmux server.
func (d *dashboard) stop() {
	if d.pid > 0 && d.alive() {
		syscall.Kill(d.pid, syscall.SIGTERM)
		if !harness.WaitFor(context.Background(), 5*time.Second, func() bool { return !d.alive() }) {
			syscall.Kill(d.pid, syscall.SIGKILL)
		}
	}
	d.tmux("kill-server")
	if d.socketPath != "" {
		os.Remove(d.socketPath)
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// The site's writes, in the order the writer does them each tick.
const (
	save = iota
	login
	logout
	numKinds
)

var kindNames = [numKinds]string{"saves", "logins", "logouts"}

// churn plays the Django site: its requests save sessions, its users log
// in and out, at fixed rates.
type churn struct {
	db    *sql.DB
	stmts [numKinds]string
	sqlt  bool // SQLite: times as Django's naive UTC text
	keys  django.Keys
	rng   *rand.Rand
	users int
	live  []harness.DjangoSession
	rates [numKinds]float64

	elapsed  time.Duration
	done     [numKinds]int
	lat      [numKinds][]time.Duration
	errs     int
	firstErr error
}

func newChurn(site *harness.DjangoSite, rates [numKinds]float64) (*churn, error) {
	c := &churn{
		keys:  django.NewKeys(harness.DjangoSecret),
		rng:   rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9)),
		users: harness.DjangoUsers(len(site.Sessions)),
		live:  slices.Clone(site.Sessions),
		rates: rates,
	}
	var err error
	switch site.Store {
	case "pg":
		c.db, err = sql.Open("pgx", site.DSN)
		c.stmts = [numKinds]string{
			"UPDATE django_session SET session_data = $1, expire_date = $2 WHERE session_key = $3",
			"INSERT INTO django_session (session_data, expire_date, session_key) VALUES ($1, $2, $3)",
			"DELETE FROM django_session WHERE session_key = $1",
		}
	case "sqlite":
		// Django's SQLite backend waits 5 s on a lock, as here; the
		// site's journal mode stays the one it has (rollback, Django's).
		c.db, err = sql.Open("sqlite", "file:"+site.DSN+"?_pragma=busy_timeout(5000)")
		c.sqlt = true
		c.stmts = [numKinds]string{
			"UPDATE django_session SET session_data = ?, expire_date = ? WHERE session_key = ?",
			"INSERT INTO django_session (session_data, expire_date, session_key) VALUES (?, ?, ?)",
			"DELETE FROM django_session WHERE session_key = ?",
		}
	default:
		return nil, fmt.Errorf("store %q", site.Store)
	}
	if err != nil {
		return nil, err
	}
	c.db.SetMaxOpenConns(1)
	return c, nil
}

// run writes at the rates until ctx ends; a write that falls behind is
// caught up on the next tick, so the achieved rate says when the site's
// writes were held up.
func (c *churn) run(ctx context.Context) {
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	defer func() { c.elapsed = time.Since(start) }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		el := time.Since(start).Seconds()
		for k := range numKinds {
			for due := int(c.rates[k]*el) - c.done[k]; due > 0 && ctx.Err() == nil; due-- {
				c.write(ctx, k)
			}
		}
	}
}

func (c *churn) write(ctx context.Context, kind int) {
	if kind != login && len(c.live) == 0 {
		kind = login
	}
	now := time.Now()
	var args []any
	i := c.rng.IntN(max(len(c.live), 1))
	switch kind {
	case save:
		s := c.live[i]
		args = []any{harness.DjangoData(c.keys, c.rng, s.User, s.Login, now), c.timeArg(now.Add(django.DefaultCookieAge)), s.Key}
	case login:
		s := harness.DjangoSession{Key: harness.DjangoKey(c.rng), User: c.rng.IntN(c.users), Login: now}
		c.live = append(c.live, s)
		args = []any{harness.DjangoData(c.keys, c.rng, s.User, now, now), c.timeArg(now.Add(django.DefaultCookieAge)), s.Key}
	case logout:
		args = []any{c.live[i].Key}
		c.live[i] = c.live[len(c.live)-1]
		c.live = c.live[:len(c.live)-1]
	}
	t0 := time.Now()
	res, err := c.db.ExecContext(ctx, c.stmts[kind], args...)
	if err != nil && ctx.Err() != nil {
		return // stopped mid-write: not the site's failure
	}
	if err == nil {
		if n, _ := res.RowsAffected(); n != 1 {
			err = fmt.Errorf("%d rows affected, want 1", n)
		}
	}
	c.lat[kind] = append(c.lat[kind], time.Since(t0))
	c.done[kind]++
	if err != nil {
		c.errs++
		if c.firstErr == nil {
			c.firstErr = fmt.Errorf("%s: %w", kindNames[kind], err)
		}
	}
}

func (c *churn) timeArg(t time.Time) any {
	if c.sqlt {
		return harness.DjangoTime(t)
	}
	return t
}

// summary says what the writer achieved: per kind its rate, and the
// latency of its statements (p99 and max: a dashboard holding a lock on
// the site's database would show here).
func (c *churn) summary() string {
	if c.elapsed == 0 {
		return "did not run"
	}
	var parts []string
	for k := range numKinds {
		l := slices.Clone(c.lat[k])
		slices.Sort(l)
		p99, worst := 0.0, 0.0
		if len(l) > 0 {
			p99, worst = harness.Ms(l[min(len(l)-1, len(l)*99/100)]), harness.Ms(l[len(l)-1])
		}
		parts = append(parts, fmt.Sprintf("%s %.1f/s (asked %g; p99 %.1f ms, max %.0f ms)", kindNames[k], float64(c.done[k])/c.elapsed.Seconds(), c.rates[k], p99, worst))
	}
	s := strings.Join(parts, ", ") + fmt.Sprintf(" over %.0f s; %d errors", c.elapsed.Seconds(), c.errs)
	if c.firstErr != nil {
		s += fmt.Sprintf(" (first: %v)", c.firstErr)
	}
	return s
}
