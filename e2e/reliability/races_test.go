package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/internal/testkit"
	"sessionmon/sessionlogic"
)

// TestRevocationRaces races an operator's force-logout (of one session, or
// of all a user's sessions) against the holder's touches, an operator's
// extends and the holder's re-login from the same browser, thousands of times
// on each store, while a poller follows ChangesSince as the dashboard does.
//
// What must hold:
//   - a revoked session never becomes valid again: once a force-logout,
//     re-login or failed touch has returned, no touch or extend that starts
//     later succeeds, and at the end every revoked token is refused;
//   - each race ends in exactly one recorded way (forced or replaced, by the
//     right actor), and ForceLogoutUser's count is the sessions it ended;
//   - Stats.Active and Stats.ByRole, and the active listing, equal the
//     sessions the test believes active;
//   - ChangesSince hands out versions that are strictly increasing, never
//     reused, never going back for a row, and its "highest version" never
//     goes back; on SQLite a poller that followed it during the races ends
//     with every row's newest version. (On PostgreSQL a version drawn early
//     can commit late, as data/postgres documents; the rows such a poller
//     misses are counted and logged.)
func TestRevocationRaces(t *testing.T) {
	// 2000 in CI across both stores, fewer on SQLite: under -race its
	// transpiled C runs every write at ~3 ms of CPU, serialised by the one
	// writer connection. SESSIONMON_RACE_ITERATIONS sets both.
	iterations := map[string]int{"sqlite": pick(700, 10000), "postgres": pick(1300, 10000)}
	if v, err := strconv.Atoi(os.Getenv("SESSIONMON_RACE_ITERATIONS")); err == nil && v > 0 {
		iterations = map[string]int{"sqlite": v, "postgres": v}
	}
	for _, sk := range testkit.Kinds {
		t.Run(sk.Name, func(t *testing.T) {
			iterations := iterations[sk.Name]
			st := sk.Open(t)
			start := time.Now()
			runRaces(t, sk.Name, st, iterations)
			t.Logf("%s: %d race iterations in %s", sk.Name, iterations, time.Since(start).Round(time.Millisecond))
		})
	}
}

// timedOp is one call's outcome and when it ran.
type timedOp struct {
	start, end time.Time
	err        error
}

func timed(f func() error) timedOp {
	o := timedOp{start: time.Now()}
	o.err = f()
	o.end = time.Now()
	return o
}

func runRaces(t *testing.T, kind string, st data.Store, iterations int) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	watch := &logWatch{}
	m := newManager(t, st, slog.New(watch))

	const workers = 4
	roles := []string{"ops", "dev"}
	creds := addUsers(t, m, "race", workers, roles...)
	recs := make([]data.User, workers)
	for i, c := range creds {
		u, err := m.User(ctx, c.user)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = u
	}

	// open starts a session for u, ending old's session as "replaced" (when
	// old is set and still active). Through Manager.Login every 25th time;
	// otherwise it writes the very record Login writes, straight to the store,
	// because bcrypt under -race costs ~100 ms even at MinCost and the race
	// being tested is in CreateSession's replace, not in the password check.
	open := func(u data.User, c cred, old string, viaLogin bool) (string, data.Session, error) {
		if viaLogin {
			return m.Login(ctx, sessionlogic.LoginRequest{
				Username: c.user, Password: c.password, IP: "127.0.0.1", UserAgent: "races", OldToken: old,
			})
		}
		token := sessionlogic.NewToken()
		now := m.Now()
		s := data.Session{
			ID: sessionlogic.HashToken(token), UserID: u.ID, Username: u.Username, Email: u.Email,
			FullName: u.FullName, Role: u.Role, Status: u.Status, IP: "127.0.0.1", UserAgent: "races",
			LoginTime: now, LastActivity: now, ExpiresAt: now.Add(m.TTL()),
		}
		replace := ""
		if old != "" {
			replace = sessionlogic.HashToken(old)
		}
		s, err := st.CreateSession(ctx, s, replace, data.Guard{PasswordHash: u.PasswordHash}, data.AuditEntry{
			Time: now, Actor: u.Username, Action: data.ActionLogin, Username: u.Username, SessionID: s.ID, IP: "127.0.0.1",
		})
		return token, s, err
	}

	var bad violations
	p := &changePoller{m: m, bad: &bad, seen: map[int64]string{}, latest: map[string]int64{}, ended: map[string]bool{}}
	stopPoll := make(chan struct{})
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for {
			select {
			case <-stopPoll:
				return
			default:
			}
			if _, err := p.poll(ctx); err != nil {
				bad.add("poller: ChangesSince: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond) // the dashboard polls every second; this is 50 times as often
		}
	}()

	type result struct {
		alive   map[string]string // session ID -> token, believed active
		revoked []string          // tokens that must never work again
		races   [6]int            // for the log: s0 forced/replaced; s1 survived/ended by FLU; uses of s0 that succeeded/were refused
	}
	results := make([]result, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, c := recs[w], creds[w]
			res := &results[w]
			res.alive = map[string]string{}
			for i := w; i < iterations; i += workers {
				if ctx.Err() != nil {
					bad.add("worker %d: out of time at iteration %d", w, i)
					return
				}
				tok0, s0, err := open(u, c, "", i%25 == 0)
				if err != nil {
					bad.add("iteration %d: open session: %v", i, err)
					continue
				}
				allOfUser := i%10 == 5
				before := len(res.alive)

				var (
					force   timedOp
					ended   int // ForceLogoutUser's count
					touches [3]timedOp
					extends [2]timedOp
					relog   timedOp
					tok1    string
					s1      data.Session
					g       sync.WaitGroup
				)
				go1 := make(chan struct{})
				g.Add(4)
				go func() {
					defer g.Done()
					<-go1
					if allOfUser {
						force = timed(func() (err error) { ended, err = m.ForceLogoutUser(ctx, operator, u.Username); return err })
					} else {
						force = timed(func() error { _, err := m.ForceLogout(ctx, operator, s0.ID); return err })
					}
				}()
				go func() {
					defer g.Done()
					<-go1
					for k := range touches {
						touches[k] = timed(func() error { _, err := m.Authenticate(ctx, tok0); return err })
					}
				}()
				go func() {
					defer g.Done()
					<-go1
					for k := range extends {
						extends[k] = timed(func() error { _, err := m.Extend(ctx, operator, s0.ID, time.Hour); return err })
					}
				}()
				go func() {
					defer g.Done()
					<-go1
					relog = timed(func() (err error) { tok1, s1, err = open(u, c, tok0, i%25 == 12); return err })
				}()
				close(go1)
				g.Wait()

				// Only the expected errors.
				if allOfUser && force.err != nil {
					bad.add("iteration %d: ForceLogoutUser: %v", i, force.err)
				}
				if !allOfUser && force.err != nil && !errors.Is(force.err, sessionlogic.ErrEnded) {
					bad.add("iteration %d: ForceLogout: %v (want nil or ErrEnded)", i, force.err)
				}
				for k, o := range touches {
					if o.err != nil && !errors.Is(o.err, sessionlogic.ErrNoSession) {
						bad.add("iteration %d: touch %d: %v (want nil or ErrNoSession)", i, k, o.err)
					}
				}
				for k, o := range extends {
					if o.err != nil && !errors.Is(o.err, sessionlogic.ErrEnded) {
						bad.add("iteration %d: extend %d: %v (want nil or ErrEnded)", i, k, o.err)
					}
				}
				if relog.err != nil {
					bad.add("iteration %d: re-login: %v", i, relog.err)
					continue
				}

				// Never valid again: after the force-logout or the re-login
				// returned (either leaves s0 ended), or after a touch or
				// extend was refused, nothing that starts later succeeds.
				revokedAt := relog.end
				if force.end.Before(revokedAt) {
					revokedAt = force.end
				}
				uses := append(touches[:], extends[:]...)
				for _, o := range uses {
					if o.err != nil && o.end.Before(revokedAt) {
						revokedAt = o.end
					}
				}
				for k, o := range uses {
					if o.err == nil && o.start.After(revokedAt) {
						bad.add("iteration %d: use %d of s0 succeeded after the session was revoked (%s after)",
							i, k, o.start.Sub(revokedAt))
					}
					if o.err == nil {
						res.races[4]++
					} else {
						res.races[5]++
					}
				}

				// s0 ended exactly once, in a way that matches who won.
				got, err := m.Session(ctx, s0.ID)
				switch {
				case err != nil:
					bad.add("iteration %d: read s0: %v", i, err)
				case got.EndedAt.IsZero():
					bad.add("iteration %d: s0 is not ended after force-logout and re-login", i)
				case got.EndReason == data.EndForced:
					res.races[0]++
					if got.EndedBy != operator {
						bad.add("iteration %d: s0 forced out by %q, want %q", i, got.EndedBy, operator)
					}
					if !allOfUser && force.err != nil {
						bad.add("iteration %d: s0 ended as forced but ForceLogout said %v", i, force.err)
					}
				case got.EndReason == data.EndReplaced:
					res.races[1]++
					if !allOfUser && force.err == nil {
						bad.add("iteration %d: ForceLogout succeeded but s0 ended as replaced", i)
					}
				default:
					bad.add("iteration %d: s0 ended with reason %q", i, got.EndReason)
				}
				if _, err := m.Authenticate(ctx, tok0); !errors.Is(err, sessionlogic.ErrNoSession) {
					bad.add("iteration %d: revoked s0 authenticates: err %v", i, err)
				}
				if i%4 == 0 { // every time would mostly repeat the racing extends that came late
					if _, err := m.Extend(ctx, operator, s0.ID, time.Hour); !errors.Is(err, sessionlogic.ErrEnded) {
						bad.add("iteration %d: revoked s0 extended: err %v (want ErrEnded)", i, err)
					}
				}
				res.revoked = append(res.revoked, tok0)

				// s1, the re-login's session.
				_, err = m.Authenticate(ctx, tok1)
				s1Active := err == nil
				if err != nil && !errors.Is(err, sessionlogic.ErrNoSession) {
					bad.add("iteration %d: authenticate s1: %v", i, err)
				}
				if !allOfUser {
					if !s1Active {
						bad.add("iteration %d: s1 refused, though only s0 was forced out", i)
					}
				} else {
					switch {
					case relog.end.Before(force.start) && s1Active:
						bad.add("iteration %d: s1 logged in before ForceLogoutUser started, and survived it", i)
					case force.end.Before(relog.start) && !s1Active:
						bad.add("iteration %d: s1 logged in after ForceLogoutUser returned, and is refused", i)
					}
					// The count: every session of the user it found active.
					want := before
					if got.EndReason == data.EndForced {
						want++
					}
					if !s1Active {
						want++
						res.races[3]++
						if g, err := m.Session(ctx, s1.ID); err != nil || g.EndReason != data.EndForced {
							bad.add("iteration %d: s1 refused but not ended as forced: %+v, %v", i, g.EndReason, err)
						}
					} else {
						res.races[2]++
					}
					if ended != want {
						bad.add("iteration %d: ForceLogoutUser ended %d sessions, want %d", i, ended, want)
					}
					for _, tok := range res.alive {
						res.revoked = append(res.revoked, tok)
					}
					clear(res.alive)
				}
				if s1Active {
					res.alive[s1.ID] = tok1
				} else {
					res.revoked = append(res.revoked, tok1)
				}
				// A third of the new sessions log out, so logout is in the mix
				// and the active set stays small.
				if s1Active && i%3 == 0 {
					if err := m.Logout(ctx, tok1); err != nil {
						bad.add("iteration %d: logout s1: %v", i, err)
					}
					delete(res.alive, s1.ID)
					res.revoked = append(res.revoked, tok1)
				}
			}
		}()
	}
	wg.Wait()
	close(stopPoll)
	<-pollDone
	bad.check(t, "races")
	if t.Failed() {
		return
	}

	// After the dust settles: counters and listings agree with what we know.
	alive := map[string]string{}
	byRole := map[string]int64{}
	var revoked []string
	var races [6]int
	for w, r := range results {
		maps.Copy(alive, r.alive)
		byRole[recs[w].Role] += int64(len(r.alive))
		revoked = append(revoked, r.revoked...)
		for k := range races {
			races[k] += r.races[k]
		}
	}
	stats, err := m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Active != int64(len(alive)) {
		t.Errorf("Stats.Active = %d, want %d (the sessions the test knows are active)", stats.Active, len(alive))
	}
	for _, r := range roles {
		if stats.ByRole[r] != byRole[r] {
			t.Errorf("Stats.ByRole[%q] = %d, want %d", r, stats.ByRole[r], byRole[r])
		}
	}
	listed := map[string]bool{}
	q := sessionlogic.ListQuery{Limit: 500}
	for {
		page, err := m.Active(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Sessions {
			if listed[s.ID] {
				t.Errorf("session %s listed twice", sessionlogic.ShortID(s.ID))
			}
			listed[s.ID] = true
			if _, ok := alive[s.ID]; !ok {
				t.Errorf("session %s (%s) listed as active, but the test ended it", sessionlogic.ShortID(s.ID), s.Username)
			}
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	if len(listed) != len(alive) {
		t.Errorf("%d sessions listed as active, want %d", len(listed), len(alive))
	}
	for _, tok := range alive {
		if _, err := m.Authenticate(ctx, tok); err != nil {
			t.Errorf("active session %s refused: %v", sessionlogic.ShortID(sessionlogic.HashToken(tok)), err)
		}
	}
	refusedAll := true
	for _, tok := range revoked {
		if _, err := m.Authenticate(ctx, tok); !errors.Is(err, sessionlogic.ErrNoSession) {
			refusedAll = false
			t.Errorf("revoked session %s: authenticate: %v, want ErrNoSession", sessionlogic.ShortID(sessionlogic.HashToken(tok)), err)
		}
	}

	// ChangesSince: catch the poller up, then compare it with a full scan.
	for more := true; more; {
		if more, err = p.poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	full := &changePoller{m: m, bad: &bad, seen: map[int64]string{}, latest: map[string]int64{}, ended: map[string]bool{}}
	for more := true; more; {
		if more, err = full.poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	bad.check(t, "ChangesSince")
	behind, endMissed := 0, 0
	for id, v := range full.latest {
		if p.latest[id] != v {
			behind++
			if full.ended[id] && !p.ended[id] {
				endMissed++ // a dashboard following ChangesSince would still show it active
			}
		}
	}
	if behind > 0 {
		msg := fmt.Sprintf("%d of %d rows: the poller that followed ChangesSince during the races holds an older version "+
			"than a full scan; for %d of them it missed the end (logout, force-logout or replace) and still sees the session active",
			behind, len(full.latest), endMissed)
		if kind == "postgres" {
			// Documented in data/postgres ChangesSince: a version drawn
			// earlier can commit after a later one was returned, so a
			// poller that moved "since" past it misses that write until a
			// full refresh.
			t.Logf("known PostgreSQL caveat: %s", msg)
		} else {
			t.Error(msg)
		}
	}
	if n := watch.panics.Load(); n > 0 {
		t.Errorf("%d panics logged:\n%s", n, watch)
	} else if n := watch.errors.Load(); n > 0 {
		t.Errorf("%d errors logged:\n%s", n, watch)
	}
	t.Logf("%d iterations: s0 forced %d, replaced %d; racing touches and extends of s0: %d succeeded (before the revocation), %d refused; "+
		"after ForceLogoutUser s1 survived %d, ended %d; %d revoked tokens all refused: %v; %d active (Stats %d); %d polls saw %d versions",
		iterations, races[0], races[1], races[4], races[5], races[2], races[3], len(revoked), refusedAll, len(alive), stats.Active, p.polls, len(p.seen))
}

// changePoller follows ChangesSince as the dashboard does and checks what
// it is handed.
type changePoller struct {
	m      *sessionlogic.Manager
	bad    *violations
	since  int64
	high   int64            // highest "Version" reported so far
	seen   map[int64]string // version -> session ID
	latest map[string]int64 // session ID -> newest version seen
	ended  map[string]bool  // session ID -> ended, in the newest version seen
	polls  int
}

// poll asks for one batch and reports whether there is more right away.
func (p *changePoller) poll(ctx context.Context) (more bool, err error) {
	ch, err := p.m.Changes(ctx, p.since, 200)
	if err != nil {
		return false, err
	}
	p.polls++
	prev := p.since
	for _, s := range ch.Sessions {
		if s.Version <= prev {
			p.bad.add("ChangesSince(%d): version %d after %d: not strictly increasing", p.since, s.Version, prev)
		}
		prev = s.Version
		if id, ok := p.seen[s.Version]; ok && id != s.ID {
			p.bad.add("ChangesSince: version %d handed to two sessions (%s and %s)", s.Version,
				sessionlogic.ShortID(id), sessionlogic.ShortID(s.ID))
		}
		p.seen[s.Version] = s.ID
		if s.Version < p.latest[s.ID] {
			p.bad.add("ChangesSince: session %s went back from version %d to %d", sessionlogic.ShortID(s.ID), p.latest[s.ID], s.Version)
		}
		if s.Version >= p.latest[s.ID] {
			p.latest[s.ID] = s.Version
			if p.ended != nil {
				p.ended[s.ID] = !s.EndedAt.IsZero()
			}
		}
	}
	if ch.Version < p.high {
		p.bad.add("ChangesSince: highest version went back from %d to %d", p.high, ch.Version)
	}
	p.high = max(p.high, ch.Version)
	if n := len(ch.Sessions); n > 0 && ch.Version < ch.Sessions[n-1].Version {
		p.bad.add("ChangesSince: Version %d is below the batch's last row's %d", ch.Version, ch.Sessions[n-1].Version)
	}
	if ch.More {
		p.since = ch.Sessions[len(ch.Sessions)-1].Version
		return true, nil
	}
	p.since = max(p.since, ch.Version)
	return false, nil
}
