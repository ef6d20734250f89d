// Command dashmem measures the dashboard's memory and frame time on a large
// store (issue 4, item 4):
//
//	cd bench && go run ./cmd/dashmem -n 1000000 -runs 3
//
// For each store (-stores pg,sqlite) it bulk-loads -n active sessions (the
// harness's loaders: generate_series on a fresh PostgreSQL schema, a
// recursive CTE into a temporary SQLite file), then, -runs times, starts a
// fresh process of itself (-child) that does nothing but open the store,
// build a sessionlogic.Manager and run the real dashboard model
// (tui.New) in a tea.Program with output to io.Discard and no input, sends
// a WindowSizeMsg of 80x24, then 200x60 halfway, and quits after
// -duration. The child times every View() call (a wrapper model) and reports
// its peak RSS (VmHWM from /proc/self/status) as JSON; the parent prints
// medians with min and max. Schema and file are removed at the end.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"sessionmon/bench/harness"
	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/sessionlogic"
	"sessionmon/tui"
)

type result struct {
	Store     string               `json:"store"`
	VmHWMkB   int64                `json:"vm_hwm_kb"`
	VmRSSkB   int64                `json:"vm_rss_kb"`
	HeapSys   uint64               `json:"heap_sys"`
	HeapInuse uint64               `json:"heap_inuse"`
	GoSys     uint64               `json:"go_sys"`
	NumGC     uint32               `json:"num_gc"`
	Views     map[string][]float64 `json:"views_ms"` // per window size
	Msgs      map[string]int       `json:"msgs"`
	Rows      int                  `json:"rows"` // table lines in the last frame that hold a bulk user
	LastFrame string               `json:"last_frame"`
	Err       string               `json:"err,omitempty"`
}

func main() {
	var (
		child, store, target, color, dsn, stores, dump string
		n, runs                                        int
		duration, poll                                 time.Duration
	)
	flag.BoolFunc("child", "internal: run one measurement process", func(string) error { child = "1"; return nil })
	flag.StringVar(&store, "store", "", "internal: pg or sqlite (child)")
	flag.StringVar(&target, "target", "", "internal: DSN or SQLite path (child)")
	flag.StringVar(&dsn, "dsn", harness.DefaultDSN, "PostgreSQL server (loopback only); a fresh schema is used and dropped")
	flag.StringVar(&stores, "stores", "pg,sqlite", "stores to measure: pg, sqlite")
	flag.IntVar(&n, "n", 1000000, "active sessions to bulk-load")
	flag.IntVar(&runs, "runs", 3, "measurement processes per store")
	flag.DurationVar(&duration, "duration", 20*time.Second, "how long each dashboard runs (80x24 the first half, 200x60 the second)")
	flag.DurationVar(&poll, "poll", time.Second, "dashboard poll interval")
	flag.StringVar(&color, "color", "truecolor", "colour profile the dashboard renders with: truecolor or ascii")
	flag.StringVar(&dump, "dump", "", "write the last frame of each run to DIR/<store>-<run>.txt")
	flag.Parse()

	if child != "" {
		r := runChild(store, target, color, duration, poll)
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "sessionmon-dashmem-")
	if err != nil {
		fatal(err)
	}
	var schemas []*harness.Schema
	cleanup := func() {
		for _, s := range schemas {
			if err := s.Drop(); err != nil {
				logf("drop schema %s: %v", s.Name, err)
			}
		}
		os.RemoveAll(dir)
	}
	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	all := map[string][]result{}
	var order []string
	err = func() error {
		for _, st := range strings.Split(stores, ",") {
			st = strings.TrimSpace(st)
			var tgt string
			t := time.Now()
			switch st {
			case "pg":
				s, err := harness.NewSchema(ctx, dsn, "dashmem")
				if err != nil {
					return err
				}
				schemas = append(schemas, s)
				pst, err := postgres.OpenAndMigrate(ctx, s.DSN)
				if err != nil {
					return err
				}
				pst.Close()
				if err := harness.BulkLoadPG(ctx, s, 1, n); err != nil {
					return err
				}
				tgt = s.DSN
			case "sqlite":
				path := harness.SQLiteFile(dir, "dashmem")
				sst, err := sqlite.Open(ctx, path)
				if err != nil {
					return err
				}
				sst.Close()
				if err := harness.BulkLoadSQLite(ctx, path, 1, n); err != nil {
					return err
				}
				tgt = path
			default:
				return fmt.Errorf("-stores: unknown store %q", st)
			}
			logf("%s: %d sessions loaded in %s", st, n, time.Since(t).Round(time.Second))
			order = append(order, st)
			for i := range runs {
				cmd := exec.CommandContext(ctx, self, "-child", "-store", st, "-target", tgt, "-color", color,
					"-duration", duration.String(), "-poll", poll.String())
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, os.Stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("%s run %d: %w", st, i+1, err)
				}
				var r result
				if err := json.Unmarshal(out.Bytes(), &r); err != nil {
					return fmt.Errorf("%s run %d: %w: %s", st, i+1, err, out.String())
				}
				if r.Err != "" {
					return fmt.Errorf("%s run %d: %s", st, i+1, r.Err)
				}
				if dump != "" {
					_ = os.WriteFile(filepath.Join(dump, fmt.Sprintf("%s-%d.txt", st, i+1)), []byte(r.LastFrame), 0o644)
				}
				logf("%s run %d: VmHWM %.1f MB, VmRSS %.1f MB, heap in use %.1f MB, %d GCs, msgs %v, rows in last frame %d",
					st, i+1, mb(r.VmHWMkB), mb(r.VmRSSkB), float64(r.HeapInuse)/1e6, r.NumGC, r.Msgs, r.Rows)
				all[st] = append(all[st], r)
			}
		}
		return nil
	}()
	cleanup()
	if err != nil {
		fatal(err)
	}
	report(all, order, n, runs, duration, poll, color)
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

func report(all map[string][]result, order []string, n, runs int, duration, poll time.Duration, color string) {
	fmt.Printf("\n## Dashboard memory and frame time at %d active sessions\n\n", n)
	fmt.Printf("%d fresh processes per store, %s each (80x24 then 200x60), poll %s, colour %s, %s, GOMAXPROCS %d\n\n",
		runs, duration, poll, color, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Println("| store | peak RSS (VmHWM) MB med | min | max | target | window fetches (med) | stats fetches (med) | View() calls (med) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, st := range order {
		rs := all[st]
		var hwm, win, stats, views []float64
		for _, r := range rs {
			hwm = append(hwm, mb(r.VmHWMkB))
			win = append(win, float64(r.Msgs["tui.windowMsg"]))
			stats = append(stats, float64(r.Msgs["tui.statsMsg"]))
			nv := 0
			for _, v := range r.Views {
				nv += len(v)
			}
			views = append(views, float64(nv))
		}
		h := harness.Summarize(hwm)
		verdict := "met"
		if h.Med > 64 {
			verdict = "NOT MET"
		}
		fmt.Printf("| %s | %.1f | %.1f | %.1f | ≤ 64 (%s) | %.0f | %.0f | %.0f |\n", st, h.Med, h.Min, h.Max, verdict,
			harness.Summarize(win).Med, harness.Summarize(stats).Med, harness.Summarize(views).Med)
	}
	fmt.Println()
	fmt.Println("View() inside the running program (per run: median and max of every call; then median/min/max over runs):")
	fmt.Println()
	fmt.Println("| store | size | calls/run (med) | per-run median µs: med [min–max] | per-run p99 µs: med [min–max] | per-run max µs: med [min–max] | ≤ 2 ms |")
	fmt.Println("|---|---|---:|---|---|---|---|")
	for _, st := range order {
		for _, size := range []string{"80x24", "200x60"} {
			var calls, meds, p99s, maxs []float64
			for _, r := range all[st] {
				v := slices.Clone(r.Views[size])
				if len(v) == 0 {
					continue
				}
				slices.Sort(v)
				calls = append(calls, float64(len(v)))
				meds = append(meds, v[len(v)/2]*1000)
				p99s = append(p99s, v[min(len(v)-1, len(v)*99/100)]*1000)
				maxs = append(maxs, v[len(v)-1]*1000)
			}
			m, p, x := harness.Summarize(meds), harness.Summarize(p99s), harness.Summarize(maxs)
			verdict := "met"
			if p.Med > 2000 {
				verdict = "NOT MET (p99)"
			}
			fmt.Printf("| %s | %s | %.0f | %.0f [%.0f–%.0f] | %.0f [%.0f–%.0f] | %.0f [%.0f–%.0f] | %s |\n", st, size,
				harness.Summarize(calls).Med, m.Med, m.Min, m.Max, p.Med, p.Min, p.Max, x.Med, x.Min, x.Max, verdict)
		}
	}
}

// runChild is the measured process: the store, a Manager, the dashboard.
func runChild(store, target, color string, duration, poll time.Duration) (r result) {
	r.Store = store
	ctx := context.Background()
	var st data.Store
	var err error
	switch store {
	case "pg":
		var p *postgres.Store
		if p, err = postgres.Open(ctx, target); err == nil {
			if err = p.CheckSchema(ctx); err == nil {
				st = p
			}
		}
	case "sqlite":
		st, err = sqlite.Open(ctx, target)
	default:
		err = fmt.Errorf("unknown store %q", store)
	}
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer st.Close()
	m, err := sessionlogic.New(sessionlogic.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		r.Err = err.Error()
		return r
	}
	// The dashboard's styles come from lipgloss's default renderer; stdout
	// is a pipe here, so set the profile (and background) explicitly.
	if color == "ascii" {
		lipgloss.SetColorProfile(termenv.Ascii)
	} else {
		lipgloss.SetColorProfile(termenv.TrueColor)
	}
	lipgloss.SetHasDarkBackground(true)
	probe := harness.NewProbe(tui.New(tui.Options{Manager: m, Operator: "bench", PollInterval: poll}))
	p := tea.NewProgram(probe, tea.WithOutput(io.Discard), tea.WithInput(nil), tea.WithoutSignalHandler())
	go func() {
		p.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
		time.Sleep(duration / 2)
		p.Send(tea.WindowSizeMsg{Width: 200, Height: 60})
		time.Sleep(duration / 2)
		p.Quit()
	}()
	if _, err := p.Run(); err != nil {
		r.Err = err.Error()
		return r
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ps := harness.ProcStatus("VmHWM", "VmRSS")
	r.VmHWMkB, r.VmRSSkB = ps["VmHWM"], ps["VmRSS"]
	r.HeapSys, r.HeapInuse, r.GoSys, r.NumGC = ms.HeapSys, ms.HeapInuse, ms.Sys, ms.NumGC
	r.Msgs = probe.S.Msgs()
	r.Views = map[string][]float64{}
	for k, v := range probe.S.Views() {
		for _, d := range v {
			r.Views[k] = append(r.Views[k], harness.Ms(d))
		}
	}
	r.LastFrame = probe.S.Last()
	for _, line := range strings.Split(r.LastFrame, "\n") {
		if strings.Contains(line, "example.com") || strings.Contains(line, "user") {
			r.Rows++
		}
	}
	return r
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "dashmem:", err)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
