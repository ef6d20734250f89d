package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// SimOptions configure a Simulator. Zero values take the defaults noted.
type SimOptions struct {
	// BaseURL is the login server, e.g. "http://127.0.0.1:8080". Required.
	BaseURL string
	// Accounts are the credentials the virtual users log in with. Required.
	// Virtual user i uses Accounts[i % len(Accounts)], so with more users
	// than accounts some people are logged in from two devices.
	Accounts []Account
	// Users is the number of virtual users. Default 40.
	Users int
	// Seed makes the virtual users' choices and timings reproducible.
	// 0 picks a random seed.
	Seed int64
	// ThinkMin and ThinkMax bound the pause between a virtual user's
	// requests. Defaults 500ms and 4s. Longer pauses scale with ThinkMax:
	// idling while logged in lasts 3-15x ThinkMax, staying away after a
	// logout 2-10x, and coming back after being forced out 1-5x.
	ThinkMin, ThinkMax time.Duration
	// RequestTimeout bounds each HTTP request. Default 10s.
	RequestTimeout time.Duration
	// LoginConcurrency caps the virtual users' logins in flight at once
	// (the rest wait their turn, as at a busy door). Each login costs the
	// server a bcrypt hash, and the demo's server shares this process's
	// CPUs: a crowd of simultaneous logins on a small machine would push
	// them past the server's timeout into 503s. Default GOMAXPROCS.
	LoginConcurrency int
	// Logger receives the simulator's events (logins, logouts, forced-out
	// notices at Info; every request at Debug). Default: discard. The
	// simulator never writes to stdout or stderr by itself.
	Logger *slog.Logger
	// Transport carries the requests. Default: a transport of its own,
	// closed when Run returns.
	Transport http.RoundTripper
}

// SimStats are the simulator's counters since Run started.
type SimStats struct {
	Users    int   // virtual users started
	LoggedIn int64 // virtual users holding a session right now, as they believe
	Logins   int64 // successful logins (303 from POST /login)
	Logouts  int64 // logouts the virtual users asked for
	Requests int64 // HTTP requests sent, of every kind
	// ForcedOut counts sessions a virtual user found ended by the server
	// while it believed it was logged in: a page redirected to the login
	// page, or /api/me answered 401. (An operator's force-logout, or expiry.)
	ForcedOut int64
	Throttled int64 // logins answered 429
	// Refused counts logins answered 401 (wrong credentials: the virtual
	// user stops) or 403 (account inactive: it tries again much later).
	Refused int64
	Errors  int64 // transport errors, 5xx and other unexpected answers
}

// String is a one-line summary, for a status line.
func (s SimStats) String() string {
	return fmt.Sprintf("%d users, %d logged in; %d logins, %d logouts, %d forced out, %d requests, %d throttled, %d refused, %d errors",
		s.Users, s.LoggedIn, s.Logins, s.Logouts, s.ForcedOut, s.Requests, s.Throttled, s.Refused, s.Errors)
}

// Simulator drives virtual users against a login server over real HTTP.
// Each has its own http.Client and cookie jar and behaves as a person: logs
// in, browses (GET / and GET /api/me) with think times, sometimes idles,
// sometimes logs out and comes back later, and when it finds its session
// was ended by the server it notices, waits a bit and logs in again.
type Simulator struct {
	opts    SimOptions
	base    *url.URL
	log     *slog.Logger
	started atomic.Bool
	door    chan struct{} // login slots

	users     atomic.Int64
	loggedIn  atomic.Int64
	logins    atomic.Int64
	logouts   atomic.Int64
	requests  atomic.Int64
	forcedOut atomic.Int64
	throttled atomic.Int64
	refused   atomic.Int64
	errors    atomic.Int64
}

// NewSimulator returns a Simulator for opts. Options are checked by Run.
func NewSimulator(opts SimOptions) *Simulator {
	if opts.Users <= 0 {
		opts.Users = 40
	}
	if opts.ThinkMin <= 0 {
		opts.ThinkMin = 500 * time.Millisecond
	}
	if opts.ThinkMax <= 0 {
		opts.ThinkMax = 4 * time.Second
	}
	if opts.ThinkMax < opts.ThinkMin {
		opts.ThinkMax = opts.ThinkMin
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.LoginConcurrency <= 0 {
		opts.LoginConcurrency = runtime.GOMAXPROCS(0)
	}
	if opts.Seed == 0 {
		opts.Seed = rand.Int64()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Simulator{
		opts: opts,
		log:  log.With("component", "demo-sim"),
		door: make(chan struct{}, opts.LoginConcurrency),
	}
}

// Stats returns the counters. It is safe to call at any time, from any goroutine.
func (s *Simulator) Stats() SimStats {
	return SimStats{
		Users:     int(s.users.Load()),
		LoggedIn:  s.loggedIn.Load(),
		Logins:    s.logins.Load(),
		Logouts:   s.logouts.Load(),
		Requests:  s.requests.Load(),
		ForcedOut: s.forcedOut.Load(),
		Throttled: s.throttled.Load(),
		Refused:   s.refused.Load(),
		Errors:    s.errors.Load(),
	}
}

// Run starts the virtual users and blocks until ctx is cancelled; then it
// waits for them to stop and returns nil. It returns an error at once for
// bad options, or when called a second time.
func (s *Simulator) Run(ctx context.Context) error {
	if s.opts.BaseURL == "" {
		return errors.New("demo: simulator: BaseURL is required")
	}
	base, err := url.Parse(s.opts.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("demo: simulator: BaseURL %q: want http(s)://host[:port]", s.opts.BaseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	if len(s.opts.Accounts) == 0 {
		return errors.New("demo: simulator: no accounts to log in with")
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("demo: simulator: already running")
	}
	s.base = base

	// Without a Transport of the caller's, the virtual users share one
	// transport per client address (sourceAddr), closed when Run returns.
	own := map[string]*http.Transport{}
	defer func() {
		for _, t := range own {
			t.CloseIdleConnections()
		}
	}()
	transportFor := func(i int) http.RoundTripper {
		if s.opts.Transport != nil {
			return s.opts.Transport
		}
		src := sourceAddr(base, i, s.opts.Users)
		if t, ok := own[src.String()]; ok {
			return t
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = s.opts.Users
		if src != nil {
			t.DialContext = dialFrom(src)
		}
		own[src.String()] = t
		return t
	}
	s.log.Info("simulator starting", "users", s.opts.Users, "accounts", len(s.opts.Accounts),
		"base", base.String(), "think_min", s.opts.ThinkMin, "think_max", s.opts.ThinkMax, "seed", s.opts.Seed)

	// Logins are spread over the first moments rather than all at once: a
	// crowd arriving together would make the server hash 40 passwords in
	// the same instant.
	spread := min(5*time.Second, 2*s.opts.ThinkMax)
	var wg sync.WaitGroup
	for i := range s.opts.Users {
		u := s.newUser(i, transportFor(i))
		start := time.Duration(u.rng.Int64N(int64(spread) + 1))
		s.users.Add(1)
		wg.Go(func() { u.run(ctx, start) })
	}
	wg.Wait()
	s.log.Info("simulator stopped", "stats", s.Stats().String())
	return nil
}

// userAgents are what the virtual users' browsers say they are, so the
// dashboard's detail view has something real to show.
var userAgents = [...]string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
}

// sourceAddr is the client address virtual user i of n connects from:
// on Linux every 127.0.0.0/8 address belongs to the loopback interface, so
// against a server on an IPv4 loopback address the users come from about
// n/3 addresses of 127.0.0.0/8 (three users behind each, as behind an
// office's NAT, and a person on two devices from two), and the dashboard's
// IP column and its by-IP view show a spread instead of one address. nil:
// the system's choice (any other server address, or another system,
// where only 127.0.0.1 is loopback).
func sourceAddr(base *url.URL, i, n int) net.IP {
	ip := net.ParseIP(base.Hostname())
	if runtime.GOOS != "linux" || ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil
	}
	k := i % max(1, n/3)
	return net.IPv4(127, 0, byte(1+k/250), byte(1+k%250))
}

// dialFrom dials from the local address src, and as the system chooses
// when src cannot be bound (a container whose loopback has only
// 127.0.0.1): the demo's traffic matters more than its spread of
// addresses.
func dialFrom(src net.IP) func(ctx context.Context, network, addr string) (net.Conn, error) {
	bound := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	plain := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := bound.DialContext(ctx, network, addr)
		if err != nil && errors.Is(err, syscall.EADDRNOTAVAIL) {
			return plain.DialContext(ctx, network, addr)
		}
		return c, err
	}
}

// vuser is one virtual user. Only its own goroutine touches it.
type vuser struct {
	sim      *Simulator
	acct     Account
	client   *http.Client
	rng      *rand.Rand
	ua       string
	loggedIn bool
	log      *slog.Logger
}

func (s *Simulator) newUser(i int, rt http.RoundTripper) *vuser {
	jar, _ := cookiejar.New(nil) // never fails with nil options
	rng := rand.New(rand.NewPCG(uint64(s.opts.Seed), uint64(i)))
	acct := s.opts.Accounts[i%len(s.opts.Accounts)]
	return &vuser{
		sim:  s,
		acct: acct,
		client: &http.Client{
			Transport: rt,
			Jar:       jar,
			// Redirects are looked at, not followed: a 302 to the login
			// page is how a page tells its holder the session is gone.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		rng: rng,
		ua:  userAgents[rng.IntN(len(userAgents))],
		log: s.log.With("vuser", i, "user", acct.Username),
	}
}

// inactiveRetry is how long a virtual user whose account is inactive waits
// before trying again: the server's default failed-login window, so each
// such user adds at most one failure per window to the shared per-IP count.
const inactiveRetry = 15 * time.Minute

// outcome is what one request told the virtual user.
type outcome int

const (
	ok       outcome = iota // the expected answer
	lost                    // the session is gone: 302 to the login page, or 401
	throttle                // 429
	refused                 // 401 at login: wrong credentials
	inactive                // 403 at login: the account is deactivated
	failed                  // transport error, 5xx, or anything unexpected
	stopped                 // ctx is done
)

func (u *vuser) run(ctx context.Context, start time.Duration) {
	defer func() {
		if u.loggedIn {
			u.setLoggedIn(false)
		}
	}()
	if !sleep(ctx, start) {
		return
	}
	backoff := u.sim.opts.ThinkMax
	for ctx.Err() == nil {
		res, retryAfter := u.login(ctx)
		switch res {
		case ok:
			backoff = u.sim.opts.ThinkMax
			u.visit(ctx)
		case throttle:
			// A person told to wait does, then tries again.
			wait := min(max(retryAfter, u.sim.opts.ThinkMax), 15*time.Minute)
			u.log.Info("login throttled; waiting", "wait", wait)
			sleep(ctx, wait)
		case refused:
			// Retrying a wrong password would only feed the server's
			// failed-login throttle, which is per IP and so shared by every
			// virtual user: this one gives up instead.
			u.log.Warn("login refused; this virtual user stops", "status", http.StatusUnauthorized)
			return
		case inactive:
			// Deactivated by an operator. Try again, but only once per
			// throttle window, so even many deactivated users cannot lock
			// every virtual user (and the person at the browser) out.
			u.log.Info("account inactive; will try again much later", "wait", inactiveRetry)
			if !sleep(ctx, u.jitter(inactiveRetry)) {
				return
			}
		case failed:
			u.log.Debug("login failed; backing off", "wait", backoff)
			if !sleep(ctx, u.jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, 30*time.Second)
		case lost:
			if !sleep(ctx, u.comeback()) {
				return
			}
		case stopped:
			return
		}
	}
}

// visit browses while logged in: pages and API calls with think times,
// sometimes a long idle, until the user logs out or finds the session gone.
func (u *vuser) visit(ctx context.Context) {
	o := u.sim.opts
	pages := 3 + u.rng.IntN(12)
	for n := 0; ; n++ {
		if !sleep(ctx, u.think()) {
			return
		}
		path := "/"
		if u.rng.IntN(5) < 2 {
			path = "/api/me"
		}
		switch u.browse(ctx, path) {
		case ok:
		case lost:
			u.sim.forcedOut.Add(1)
			u.setLoggedIn(false)
			u.log.Info("noticed the session was ended; will log in again later", "path", path)
			sleep(ctx, u.comeback())
			return
		case failed:
			// The server is unwell; a person waits and reloads.
			sleep(ctx, u.between(o.ThinkMax, 3*o.ThinkMax))
		case stopped:
			return
		}
		if n < pages {
			continue
		}
		switch r := u.rng.Float64(); {
		case r < 0.4:
			if u.logout(ctx) == stopped {
				return
			}
			sleep(ctx, u.between(2*o.ThinkMax, 10*o.ThinkMax))
			return
		case r < 0.75:
			// Coffee, a meeting: the session sits idle while its
			// last activity ages in the dashboard.
			u.log.Debug("idling")
			if !sleep(ctx, u.between(3*o.ThinkMax, 15*o.ThinkMax)) {
				return
			}
		}
		pages = n + 3 + u.rng.IntN(12)
	}
}

// login loads the form and posts the credentials, then follows the 303
// as a browser would. On 429 it returns the server's Retry-After.
func (u *vuser) login(ctx context.Context) (outcome, time.Duration) {
	next := "/"
	if u.rng.IntN(4) == 0 {
		next = "/api/me"
	}
	resp, err := u.do(ctx, http.MethodGet, "/login?next="+url.QueryEscape(next), nil)
	// The form, or a redirect if the server thinks we are logged in: either
	// way a person would now type their credentials.
	if err != nil || resp.StatusCode >= 400 {
		return u.judge(ctx, "GET /login", resp, err, http.StatusOK), 0
	}
	if !sleep(ctx, u.think()) { // typing
		return stopped, 0
	}
	form := url.Values{"username": {u.acct.Username}, "password": {u.acct.Password}, "next": {next}}
	select {
	case u.sim.door <- struct{}{}:
	case <-ctx.Done():
		return stopped, 0
	}
	resp, err = u.do(ctx, http.MethodPost, "/login", form)
	<-u.sim.door
	if err != nil {
		return u.judge(ctx, "POST /login", nil, err, http.StatusSeeOther), 0
	}
	switch resp.StatusCode {
	case http.StatusSeeOther:
	case http.StatusTooManyRequests:
		u.sim.throttled.Add(1)
		return throttle, retryAfter(resp.Header.Get("Retry-After"))
	case http.StatusUnauthorized:
		u.sim.refused.Add(1)
		return refused, 0
	case http.StatusForbidden:
		// The account is inactive. (A cross-origin refusal is 403 too, but
		// a Go client sends no Origin or Sec-Fetch-Site, so it never gets one.)
		u.sim.refused.Add(1)
		return inactive, 0
	default:
		return u.judge(ctx, "POST /login", resp, nil, http.StatusSeeOther), 0
	}
	u.sim.logins.Add(1)
	u.setLoggedIn(true)
	u.log.Info("logged in", "role", u.acct.Role)

	// Land where the server sent us, as a browser does.
	target := next
	if loc, err := resp.Location(); err == nil && u.sameSite(loc) {
		target = loc.RequestURI()
	}
	switch res := u.browse(ctx, target); res {
	case lost:
		// Ended between the login and the first page: noticed like any other.
		u.sim.forcedOut.Add(1)
		u.setLoggedIn(false)
		u.log.Info("noticed the session was ended; will log in again later", "path", target)
		return lost, 0
	case stopped:
		return stopped, 0
	}
	return ok, 0
}

// browse fetches a protected path while logged in.
func (u *vuser) browse(ctx context.Context, path string) outcome {
	resp, err := u.do(ctx, http.MethodGet, path, nil)
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || u.isLoginRedirect(resp)) {
		return lost
	}
	return u.judge(ctx, "GET "+path, resp, err, http.StatusOK)
}

// logout posts to /logout. The session is given up whatever the answer.
func (u *vuser) logout(ctx context.Context) outcome {
	resp, err := u.do(ctx, http.MethodPost, "/logout", url.Values{})
	res := u.judge(ctx, "POST /logout", resp, err, http.StatusSeeOther)
	if res == stopped {
		return stopped
	}
	u.setLoggedIn(false)
	if res == ok {
		u.sim.logouts.Add(1)
		u.log.Info("logged out")
	}
	return res
}

// do sends one request with the per-request timeout and returns the
// response with its body already read and closed.
func (u *vuser) do(ctx context.Context, method, path string, form url.Values) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, u.sim.opts.RequestTimeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.sim.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if strings.HasPrefix(path, "/api/") {
		req.Header.Set("Accept", "application/json")
	} else {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	req.Header.Set("User-Agent", u.ua)
	u.sim.requests.Add(1)
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, err
	}
	// Drain (bounded) so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	u.log.Debug("request", "method", method, "path", path, "status", resp.StatusCode)
	return resp, nil
}

// judge turns a response into an outcome, counting errors.
func (u *vuser) judge(ctx context.Context, what string, resp *http.Response, err error, want int) outcome {
	switch {
	case ctx.Err() != nil:
		return stopped
	case err != nil:
		u.sim.errors.Add(1)
		u.log.Debug("request failed", "request", what, "err", err)
		return failed
	case resp.StatusCode == want:
		return ok
	default:
		u.sim.errors.Add(1)
		u.log.Debug("unexpected answer", "request", what, "status", resp.StatusCode)
		return failed
	}
}

// isLoginRedirect reports whether resp sends the browser to the login page.
func (u *vuser) isLoginRedirect(resp *http.Response) bool {
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return false
	}
	loc, err := resp.Location()
	return err == nil && u.sameSite(loc) && strings.TrimSuffix(loc.Path, "/") == u.sim.base.Path+"/login"
}

func (u *vuser) sameSite(loc *url.URL) bool {
	return loc.Scheme == u.sim.base.Scheme && loc.Host == u.sim.base.Host
}

func (u *vuser) setLoggedIn(v bool) {
	if v == u.loggedIn {
		return
	}
	u.loggedIn = v
	if v {
		u.sim.loggedIn.Add(1)
	} else {
		u.sim.loggedIn.Add(-1)
	}
}

// comeback is how long a user who found their session ended takes to log in again.
func (u *vuser) comeback() time.Duration {
	return u.between(u.sim.opts.ThinkMax, 5*u.sim.opts.ThinkMax)
}

func (u *vuser) think() time.Duration { return u.between(u.sim.opts.ThinkMin, u.sim.opts.ThinkMax) }

// between returns a uniformly random duration in [lo, hi].
func (u *vuser) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(u.rng.Int64N(int64(hi-lo)+1))
}

// jitter returns d plus or minus up to a quarter.
func (u *vuser) jitter(d time.Duration) time.Duration { return u.between(d*3/4, d*5/4) }

// retryAfter parses a Retry-After header in seconds (the form the login
// server sends); anything else counts as zero.
func retryAfter(h string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || secs < 0 {
		return 0
	}
	return time.Duration(min(secs, 24*3600)) * time.Second
}

// sleep waits for d or until ctx is done, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
