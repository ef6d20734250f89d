package djangoe2e

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"sessionmon/data"
	"sessionmon/data/django"
)

var ctx = context.Background()

func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

func (s *site) open(keys django.Keys) *django.Source {
	s.t.Helper()
	src, err := django.Open(ctx, s.db, django.Options{Keys: keys, AuditPath: filepath.Join(s.t.TempDir(), "audit.db")})
	if err != nil {
		s.t.Fatalf("django.Open: %v", err)
	}
	s.t.Cleanup(func() { src.Close() })
	return src
}

func (s *site) sqlDB() *sql.DB {
	driver := "sqlite"
	if s.backend == "postgres" {
		driver = "pgx"
	}
	db, err := sql.Open(driver, s.db)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { db.Close() })
	return db
}

func find(t *testing.T, src data.Source, key string) data.Session {
	t.Helper()
	p, err := src.ListActive(ctx, data.Query{Now: time.Now(), Limit: 1000})
	if err != nil {
		t.Fatalf("ListActive: %v", err)
	}
	for _, s := range p.Sessions {
		if s.ID == key {
			return s
		}
	}
	t.Fatalf("session %s not listed", key)
	return data.Session{}
}

// TestDjangoLoginForceOutRevokeUserExtend: the operator's actions against
// sessions the real Django created over HTTP, and Django's answer to the
// holder's next request.
func TestDjangoLoginForceOutRevokeUserExtend(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		site := newSite(t, backend, siteOptions{})
		site.seed([]seedUser{
			{Username: "alice", Password: "alice-pw", Email: "alice@example.com", FullName: "Alice Liddell", Role: "editor"},
			{Username: "bob", Password: "bob-pw", Email: "bob@example.com", FullName: "Bob Builder"},
		}, nil)
		a1, a2, b1, b2 := site.browser(), site.browser(), site.browser(), site.browser()
		before := time.Now().UTC().Add(-time.Second)
		ka1, ka2 := a1.login("alice", "alice-pw"), a2.login("alice", "alice-pw")
		kb1, kb2 := b1.login("bob", "bob-pw"), b2.login("bob", "bob-pw")
		for _, b := range []*browser{a1, a2, b1, b2} {
			b.mustBeIn()
		}

		src := site.open(django.NewKeys(site.secret))
		s := find(t, src, ka1)
		if s.Username != "alice" || s.Role != "editor" || s.FullName != "Alice Liddell" || s.Email != "alice@example.com" ||
			s.LastActivity.Before(before) || s.LoginTime.Before(before) || s.IP != "127.0.0.1" || s.Data[django.MarkSignature] != "valid" {
			t.Fatalf("listed %+v", s)
		}
		if _, est := s.Data[django.MarkLastActivity]; est {
			t.Error("last activity marked an estimate although the site stores it")
		}

		// Force out one session: Django's next AJAX request answers 401, the page redirects.
		end := data.End{At: time.Now(), Reason: data.EndForced, By: "oncall"}
		if _, err := src.EndSession(ctx, ka1, end, data.AuditEntry{Time: end.At, Actor: "oncall", Action: data.ActionForceLogout}); err != nil {
			t.Fatal(err)
		}
		a1.mustBeOut()
		a2.mustBeIn()

		// Revoke a user: every session of bob ends, alice's stays.
		u, err := src.UserByUsername(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		n, err := src.EndUserSessions(ctx, u.ID, end, data.AuditEntry{Time: end.At, Actor: "oncall", Action: data.ActionForceLogoutAll})
		if err != nil || n != 2 {
			t.Fatalf("EndUserSessions(bob) = %d, %v; want 2", n, err)
		}
		b1.mustBeOut()
		b2.mustBeOut()
		a2.mustBeIn()
		if _, err := src.Session(ctx, kb1); !errors.Is(err, data.ErrNotFound) {
			t.Errorf("bob's session %s still there: %v", kb1, err)
		}
		_ = kb2

		// Extend with the secret survives the holder's next request.
		old := site.expireDate(src, ka2)
		ext, err := src.Extend(ctx, ka2, 30*24*time.Hour, time.Now(), data.AuditEntry{Time: time.Now(), Actor: "oncall", Action: data.ActionExtend})
		if err != nil {
			t.Fatal(err)
		}
		if !ext.ExpiresAt.After(old.Add(29 * 24 * time.Hour)) {
			t.Fatalf("extended to %v from %v", ext.ExpiresAt, old)
		}
		a2.mustBeIn() // Django reads the re-signed row and saves it again
		if got := site.expireDate(src, ka2); got.Before(ext.ExpiresAt) {
			t.Fatalf("after a request expire_date is %v, before the extended %v: Django undid the extend", got, ext.ExpiresAt)
		}
		if got := find(t, src, ka2); got.Data[django.MarkSignature] != "valid" {
			t.Errorf("Django's re-save of our row: signature %v", got.Data[django.MarkSignature])
		}

		audit, err := src.Audit(ctx, data.AuditQuery{})
		if err != nil || len(audit) != 3 {
			t.Fatalf("audit = %+v, %v", audit, err)
		}
		if audit[0].Action != data.ActionExtend || audit[1].Action != data.ActionForceLogoutAll || audit[1].Username != "bob" ||
			audit[2].Action != data.ActionForceLogout || audit[2].Username != "alice" || audit[2].SessionID != ka1 {
			t.Errorf("audit = %+v", audit)
		}
	})
}

// TestDjangoPlainLegacyAndTamperedRows: rows without the site's keys (a
// plain Django site), in the pre-3.1 format, and forged.
func TestDjangoPlainLegacyAndTamperedRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		site := newSite(t, backend, siteOptions{})
		exp := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
		keys := site.seed(nil, []seedSession{
			{SeedUser: seedUser{Username: "root", FullName: "Ro Ot", Email: "root@example.com", Role: "admin"}, Plain: true, ExpiresAt: exp.Format(time.RFC3339Nano)},
			{SeedUser: seedUser{Username: "old", Role: "user"}, Format: "legacy", LoginTime: "2026-11-30T08:00:00+00:00"},
			{SeedUser: seedUser{Username: "victim", Role: "user"}},
		})
		plain, legacy, victim := keys[0], keys[1], keys[2]
		src := site.open(django.NewKeys(site.secret))

		p := find(t, src, plain) // its times to the second, as the source keeps them
		if p.Username != "root" || p.Role != "superuser" || p.FullName != "Ro Ot" || p.Email != "root@example.com" ||
			!p.ExpiresAt.Equal(exp) || !p.LastActivity.Equal(exp.Add(-django.DefaultCookieAge).Truncate(time.Second)) || p.Data[django.MarkLastActivity] == nil {
			t.Errorf("plain Django session = %+v", p)
		}
		l := find(t, src, legacy)
		if l.Username != "old" || l.Data[django.MarkFormat] != "legacy" || l.Data[django.MarkSignature] != "valid (sha1)" ||
			!l.LoginTime.Equal(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)) {
			t.Errorf("legacy session = %+v", l)
		}
		lb := site.browser()
		lb.setKey(legacy)
		lb.mustBeIn() // Django 3.2 reads it too

		// Forge: the victim's row rewritten as an admin's, signed with a guessed key.
		forged, err := django.NewKeys("guessed").Encode(django.PyDumps(
			django.Member{Key: "user", Value: "victim"}, django.Member{Key: "user_role", Value: "admin"}), django.EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		db := site.sqlDB()
		q := "UPDATE django_session SET session_data = $1 WHERE session_key = $2"
		if backend == "sqlite" {
			q = "UPDATE django_session SET session_data = ? WHERE session_key = ?"
		}
		if _, err := db.Exec(q, forged, victim); err != nil {
			t.Fatal(err)
		}
		v := find(t, src, victim)
		if v.Status != django.StatusTampered || !strings.HasPrefix(v.Data[django.MarkSignature].(string), "tampered") {
			t.Errorf("forged row = status %q signature %v, want marked tampered", v.Status, v.Data[django.MarkSignature])
		}
		vb := site.browser()
		vb.setKey(victim)
		vb.mustBeOut() // Django, too, finds the signature bad and sees no session
	})
}

// TestDjangoPickleSiteIsRefused: a site with the pickle serializer.
func TestDjangoPickleSiteIsRefused(t *testing.T) {
	site := newSite(t, "sqlite", siteOptions{serializer: "pickle"})
	site.seed([]seedUser{{Username: "p", Password: "pw"}}, nil)
	site.browser().login("p", "pw")
	_, err := django.Open(ctx, site.db, django.Options{})
	if !errors.Is(err, django.ErrPickle) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Open(pickle site) = %v, want one line wrapping ErrPickle", err)
	}
}

// TestDjangoCachedDBKeepsAForcedOutSession documents why the source warns
// on cached_db: deleting the row does not log the holder out while the
// site's cache holds the session.
func TestDjangoCachedDBKeepsAForcedOutSession(t *testing.T) {
	site := newSite(t, "sqlite", siteOptions{engine: "cached_db"})
	site.seed([]seedUser{{Username: "c", Password: "pw"}}, nil)
	b := site.browser()
	key := b.login("c", "pw")
	b.mustBeIn()
	src, err := django.Open(ctx, site.db, django.Options{Engine: django.EngineCachedDB, AuditPath: filepath.Join(t.TempDir(), "a.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if !strings.Contains(strings.Join(src.Warnings(), "\n"), "cached_db") || !strings.Contains(src.Describe(), "cached_db") {
		t.Errorf("no cached_db warning: %v / %s", src.Warnings(), src.Describe())
	}
	if _, err := src.EndSession(ctx, key, data.End{At: time.Now(), Reason: data.EndForced}, data.AuditEntry{Actor: "op", Action: data.ActionForceLogout}); err != nil {
		t.Fatal(err)
	}
	// The cached copy still authenticates the holder: the view runs, and
	// only the session save after it fails (SESSION_SAVE_EVERY_REQUEST:
	// the row is gone, so Django raises SessionInterrupted, a 400), request
	// after request, until the cache drops the entry.
	for i := 0; i < 2; i++ {
		if code, _, body := b.get("/api/me", true); code == 401 || code == 302 {
			t.Fatalf("cached_db answered %d %s: if Django now logs the holder out, drop the warning", code, body)
		} else {
			t.Logf("cached_db after a force-out: %d", code)
		}
	}
}

func dataAuditAll() data.AuditQuery { return data.AuditQuery{} }
