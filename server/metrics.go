package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"sessionmon/sessionlogic"
)

// Metrics are the login server's Prometheus metrics. A *Metrics is also the
// sessionlogic.Observer that counts the Manager's domain events, so it is
// made before the Manager and handed to both:
//
//	metrics, err := server.NewMetrics(nil)
//	mgr, err := sessionlogic.New(sessionlogic.Options{..., Observer: metrics})
//	srv, err := server.New(server.Options{Manager: mgr, Metrics: metrics, ...})
//
// The event counters count what this process did. Logins, failed logins and
// logouts happen in the server, so its counters see them all. Forced logouts
// are counted by the process that performs them: the CLI (`sessions revoke`)
// or the dashboard, not the server whose users they throw out. The audit
// table is the durable, store-wide record of every one of them.
type Metrics struct {
	reg *prometheus.Registry

	logins        prometheus.Counter
	loginFailures *prometheus.CounterVec
	logouts       prometheus.Counter
	forcedLogouts prometheus.Counter
	panics        prometheus.Counter
	requests      *prometheus.HistogramVec

	observers sync.Map // observerKey → prometheus.Observer of requests

	mu     sync.Mutex
	served bool // a Server has registered its active-sessions collector
}

// Failure reasons on sessionmon_login_failures_total. Unknown users and
// wrong passwords share "invalid": separate counters on a scrape endpoint
// would tell anyone watching them whether a username exists.
const (
	reasonInvalid   = "invalid"
	reasonInactive  = "inactive"
	reasonThrottled = "throttled"
	reasonOther     = "other"
)

// NewMetrics creates the metrics in reg. A nil reg means a new registry
// that also carries the Go runtime and process collectors.
func NewMetrics(reg *prometheus.Registry) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		if err := registerAll(reg,
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		); err != nil {
			return nil, err
		}
	}
	m := &Metrics{
		reg: reg,
		logins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionmon_logins_total",
			Help: "Successful logins handled by this process.",
		}),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionmon_login_failures_total",
			Help: "Failed logins handled by this process, by reason (invalid credentials, inactive account, throttled).",
		}, []string{"reason"}),
		logouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionmon_logouts_total",
			Help: "Sessions ended by their holder's logout in this process.",
		}),
		forcedLogouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionmon_forced_logouts_total",
			Help: "Sessions ended by an operator, counted by the process that ended them (CLI or dashboard); the audit table has them all.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionmon_http_panics_total",
			Help: "Handler panics recovered and answered with 500.",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sessionmon_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "status"}),
	}
	// Pre-create the failure series so they read 0 before the first failure.
	for _, r := range []string{reasonInvalid, reasonInactive, reasonThrottled, reasonOther} {
		m.loginFailures.WithLabelValues(r)
	}
	if err := registerAll(reg, m.logins, m.loginFailures, m.logouts, m.forcedLogouts, m.panics, m.requests); err != nil {
		return nil, err
	}
	return m, nil
}

func registerAll(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Registry is the registry the metrics live in (served at /metrics).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Login implements sessionlogic.Observer.
func (m *Metrics) Login() { m.logins.Inc() }

// LoginFailed implements sessionlogic.Observer. The Manager's detailed
// reasons are folded into a fixed set: see the reason constants.
func (m *Metrics) LoginFailed(reason string) {
	m.loginFailures.WithLabelValues(failureReason(reason)).Inc()
}

// Logout implements sessionlogic.Observer.
func (m *Metrics) Logout() { m.logouts.Inc() }

// ForcedLogout implements sessionlogic.Observer.
func (m *Metrics) ForcedLogout(n int) {
	if n > 0 {
		m.forcedLogouts.Add(float64(n))
	}
}

var _ sessionlogic.Observer = (*Metrics)(nil)

func failureReason(why string) string {
	switch why {
	case "unknown user", "wrong password", "oversized input", "invalid":
		return reasonInvalid
	case "inactive":
		return reasonInactive
	case "throttled":
		return reasonThrottled
	default:
		return reasonOther
	}
}

// observe records one request's latency. The histogram of each route and
// status class is looked up once and kept: WithLabelValues hashes and
// validates both labels and takes the vector's lock on every call, on
// every request. Routes are ServeMux patterns or "unmatched", so the
// cache stays as small as the label set.
func (m *Metrics) observe(route string, status int, d time.Duration) {
	k := observerKey{route, status / 100}
	if status < 100 || status >= 600 {
		k.class = 0 // "other"
	}
	o, ok := m.observers.Load(k)
	if !ok {
		o, _ = m.observers.LoadOrStore(k, m.requests.WithLabelValues(route, statusClass(status)))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// observerKey is a route and its status class (1–5, 0 for "other").
type observerKey struct {
	route string
	class int
}

func statusClass(code int) string {
	switch {
	case code >= 100 && code < 600:
		return string(rune('0'+code/100)) + "xx"
	default:
		return "other"
	}
}

// attach registers the collectors that need the Manager (the active
// session gauges). A Metrics serves one Server.
func (m *Metrics) attach(mgr *sessionlogic.Manager, log *slog.Logger) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.served {
		return errors.New("server: these Metrics already serve another Server")
	}
	c := &activeCollector{
		stats: mgr.Stats,
		ttl:   statsCacheTTL,
		log:   log,
		active: prometheus.NewDesc("sessionmon_active_sessions",
			"Active sessions in the store (all replicas), cached for a few seconds.", nil, nil),
		byRole: prometheus.NewDesc("sessionmon_active_sessions_by_role",
			"Active sessions in the store by the role the user had at login.", []string{"role"}, nil),
		up: prometheus.NewDesc("sessionmon_store_up",
			"1 when the last session count from the store succeeded, else 0.", nil, nil),
	}
	if err := m.reg.Register(c); err != nil {
		return err
	}
	m.served = true
	return nil
}

// statsCacheTTL is how long one count of active sessions answers scrapes,
// so a scrape storm costs the store one query per TTL, not one per scrape.
const statsCacheTTL = 5 * time.Second

// statsTimeout bounds the store query behind a scrape.
const statsTimeout = 2 * time.Second

// activeCollector reports Manager.Stats, cached. Concurrent scrapes wait
// for one query rather than each running their own. A failed query is
// cached too, so a down store is not hammered either; while it fails the
// gauges are left out (no stale numbers) and sessionmon_store_up reads 0.
type activeCollector struct {
	stats func(context.Context) (sessionlogic.Stats, error)
	ttl   time.Duration
	log   *slog.Logger

	active, byRole, up *prometheus.Desc

	mu   sync.Mutex
	at   time.Time // when last was fetched (zero: never)
	last sessionlogic.Stats
	err  error
}

func (c *activeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.active
	ch <- c.byRole
	ch <- c.up
}

func (c *activeCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.get()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(st.Active))
	for role, n := range st.ByRole {
		ch <- prometheus.MustNewConstMetric(c.byRole, prometheus.GaugeValue, float64(n), role)
	}
}

func (c *activeCollector) get() (sessionlogic.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.ttl {
		return c.last, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := c.stats(ctx)
	c.at, c.last, c.err = time.Now(), st, err
	if err != nil {
		c.log.Warn("metrics: count active sessions", "err", err)
	}
	return st, err
}
