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

	"github.com/jackc/pgx/v5"
)

// PGBenchScript is the limit's one statement: the same UPDATE … RETURNING
// that sessionmon's Touch runs (same SET list, same WHERE, every column
// returned), on a random one of the n bulk-loaded rows.
func PGBenchScript(n int) string {
	return fmt.Sprintf(`\set n random(1, %d)
UPDATE sessions SET last_activity = now(), expires_at = GREATEST(expires_at, LEAST(now() + interval '14 days', coalesce(absolute_expires_at, 'infinity'))) WHERE id = lpad(to_hex(:n::int), 64, '0') AND ended_at IS NULL AND expires_at > now() RETURNING id, user_id, username, email, full_name, role, status, data, ip, user_agent, login_time, last_activity, expires_at, absolute_expires_at, ended_at, end_reason, ended_by, version;
`, n)
}

var (
	tpsRe    = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	latRe    = regexp.MustCompile(`latency average = ([0-9.]+) ms`)
	failedRe = regexp.MustCompile(`number of failed transactions: ([0-9]+)`)
)

// PGBench runs pgbench (simple `-n`, prepared protocol like pgx) against the
// schema with the script for d, and returns tps and average latency (pgbench
// reports no percentiles without per-transaction logs; P50 holds the average).
func PGBench(ctx context.Context, s *Schema, rows, clients, threads int, d time.Duration, dir string) (Result, string, error) {
	script := filepath.Join(dir, "touch.sql")
	if err := os.WriteFile(script, []byte(PGBenchScript(rows)), 0o644); err != nil {
		return Result{}, "", err
	}
	cfg, err := pgx.ParseConfig(s.Base)
	if err != nil {
		return Result{}, "", err
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads),
		"-T", strconv.Itoa(int(d.Round(time.Second) / time.Second)), "-f", script,
		"-h", cfg.Host, "-p", strconv.Itoa(int(cfg.Port)), "-U", cfg.User, cfg.Database}
	cmd := exec.CommandContext(ctx, "pgbench", args...)
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c search_path="+s.Name)
	out, err := cmd.CombinedOutput()
	line := "pgbench " + strings.Join(args, " ")
	if err != nil {
		return Result{}, line, fmt.Errorf("%s: %w\n%s", line, err, out)
	}
	m := tpsRe.FindSubmatch(out)
	if m == nil {
		return Result{}, line, fmt.Errorf("pgbench: no tps in output:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	r := Result{Rate: tps, Elapsed: d, Ops: int64(tps * d.Seconds()), All: int64(tps * d.Seconds()), Note: "p50 column = pgbench's average latency"}
	if m := latRe.FindSubmatch(out); m != nil {
		ms, _ := strconv.ParseFloat(string(m[1]), 64)
		r.P50 = time.Duration(ms * float64(time.Millisecond))
	}
	if m := failedRe.FindSubmatch(out); m != nil {
		r.Errors, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	return r, line, nil
}
