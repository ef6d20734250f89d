package django

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sessionmon/internal/djangotest"
)

type fixtureCase struct {
	Name        string         `json:"name"`
	Kind        string         `json:"kind"`
	Dict        map[string]any `json:"dict"`
	SessionData string         `json:"session_data"`
}

type fixtures struct {
	Secret  string        `json:"secret"`
	Cases   []fixtureCase `json:"cases"`
	Rotated struct {
		OldSecret   string `json:"old_secret"`
		Name        string `json:"name"`
		SessionData string `json:"session_data"`
	} `json:"rotated"`
}

// loadFixtures reads testdata/django32.json: rows written by Django 3.2.25
// itself (testdata/djangosign.py gen), committed so that these tests need
// no Python; TestAgainstLiveDjango repeats the checks with fresh rows.
func loadFixtures(t *testing.T) fixtures {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "django32.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx fixtures
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx fixtures) get(t *testing.T, name string) fixtureCase {
	for _, c := range fx.Cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no fixture %q", name)
	return fixtureCase{}
}

// normal turns a dict into plain JSON values so that json.Number and
// float64 compare equal.
func normal(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDecodeDjangoRows(t *testing.T) {
	fx := loadFixtures(t)
	keys := NewKeys(fx.Secret)
	want := map[string]struct {
		format     Format
		compressed bool
		alg        Algorithm
	}{
		"site_compressed":    {FormatSigned, true, SHA256},
		"plain":              {FormatSigned, true, SHA256},
		"short_uncompressed": {FormatSigned, false, SHA256},
		"empty":              {FormatSigned, false, SHA256},
		"sha1_signed":        {FormatSigned, true, SHA1},
		"legacy":             {FormatLegacy, false, SHA1},
		"expiry":             {FormatSigned, true, SHA256},
	}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			d, err := Decode(c.SessionData)
			if c.Kind == "pickle" {
				if !errors.Is(err, ErrPickle) {
					t.Fatalf("Decode(pickled row) = %v, want ErrPickle", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			w := want[c.Name]
			if d.Format != w.format || d.Compressed != w.compressed {
				t.Errorf("format %v compressed %v, want %v %v", d.Format, d.Compressed, w.format, w.compressed)
			}
			if got, exp := normal(t, d.Dict), normal(t, c.Dict); !reflect.DeepEqual(got, exp) {
				t.Errorf("dict\n got %v\nwant %v", got, exp)
			}
			v, err := keys.Verify(d)
			if err != nil {
				t.Fatalf("Verify with the site's key: %v", err)
			}
			if v.Algorithm != w.alg || v.KeyIndex != 0 {
				t.Errorf("verified with %v key %d, want %v key 0", v.Algorithm, v.KeyIndex, w.alg)
			}
			if _, err := NewKeys("another-key").Verify(d); !errors.Is(err, ErrTampered) {
				t.Errorf("Verify with a wrong key = %v, want ErrTampered", err)
			}
		})
	}
}

func TestTamperedRowsFailVerification(t *testing.T) {
	fx := loadFixtures(t)
	keys := NewKeys(fx.Secret)

	// Signed: swap the payload for another user's, keep timestamp and signature.
	c := fx.get(t, "short_uncompressed")
	parts := strings.SplitN(c.SessionData, ":", 2)
	forged := b64url(`{"a":2}`) + ":" + parts[1]
	d, err := Decode(forged)
	if err != nil {
		t.Fatalf("Decode(forged) = %v; a forged row must still decode, so it can be shown and marked", err)
	}
	if _, err := keys.Verify(d); !errors.Is(err, ErrTampered) {
		t.Errorf("Verify(forged signed row) = %v, want ErrTampered", err)
	}

	// Legacy: keep the hash, change the JSON.
	l := fx.get(t, "legacy")
	ld, _ := Decode(l.SessionData)
	raw := ld.legacyHash + ":" + strings.Replace(string(ld.JSON), "alice", "mallory", 1)
	d, err = Decode(b64std(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Verify(d); !errors.Is(err, ErrTampered) {
		t.Errorf("Verify(forged legacy row) = %v, want ErrTampered", err)
	}
}

func TestVerifyWithFallbackKey(t *testing.T) {
	fx := loadFixtures(t)
	d, err := Decode(fx.Rotated.SessionData)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeys(fx.Secret).Verify(d); !errors.Is(err, ErrTampered) {
		t.Fatalf("a row signed by a rotated-out key verified without SECRET_KEY_FALLBACKS: %v", err)
	}
	v, err := NewKeys(fx.Secret, fx.Rotated.OldSecret).Verify(d)
	if err != nil || v.KeyIndex != 1 {
		t.Fatalf("Verify with fallbacks = %+v, %v; want key 1", v, err)
	}
}

// TestEncodeIsDjangosBytes: for a row Django did not compress, Encode with
// Django's timestamp gives the very same string, and PyDumps writes the
// same JSON as Django's serializer (non-ASCII, quotes and all).
func TestEncodeIsDjangosBytes(t *testing.T) {
	fx := loadFixtures(t)
	keys := NewKeys(fx.Secret)
	for _, name := range []string{"short_uncompressed", "empty"} {
		c := fx.get(t, name)
		d, err := Decode(c.SessionData)
		if err != nil {
			t.Fatal(err)
		}
		got, err := keys.Encode(d.JSON, EncodeOptions{Now: d.Signed})
		if err != nil {
			t.Fatal(err)
		}
		if got != c.SessionData {
			t.Errorf("%s: Encode = %q, Django wrote %q", name, got, c.SessionData)
		}
	}
	l := fx.get(t, "legacy")
	d, _ := Decode(l.SessionData)
	got, err := keys.Encode(d.JSON, EncodeOptions{Format: FormatLegacy})
	if err != nil || got != l.SessionData {
		t.Errorf("legacy Encode = %q, %v; Django wrote %q", got, err, l.SessionData)
	}
	site := []Member{
		{"user", "alice"}, {"user_id", 7}, {"user_email", "alice@example.com"},
		{"user_name", "Alice Ünïcødé 😀"}, {"user_role", "admin"}, {"user_status", "active"},
		{"login_time", "2026-12-01T09:00:00.123456+00:00"}, {"last_activity", "2026-12-01T09:30:00+00:00"},
		{"_auth_user_id", "7"}, {"_auth_user_backend", "django.contrib.auth.backends.ModelBackend"},
		{"_auth_user_hash", "abc"}, {"ip", "10.0.0.1"}, {"user_agent", `Mozilla/5.0 <x> & "q"\`},
	}
	if got := PyDumps(site...); !bytes.Equal(got, d.JSON) {
		t.Errorf("PyDumps\n got %s\nwant %s", got, d.JSON)
	}
	// Compressed rows differ only in zlib's bytes; they round-trip.
	s := fx.get(t, "site_compressed")
	sd, _ := Decode(s.SessionData)
	enc, err := keys.Encode(sd.JSON, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(enc)
	if err != nil || !back.Compressed || !bytes.Equal(back.JSON, sd.JSON) {
		t.Fatalf("round trip of a compressed row: %v compressed=%v", err, back.Compressed)
	}
	if _, err := keys.Verify(back); err != nil {
		t.Fatal(err)
	}
}

func TestSetKeyKeepsOrderAndBytes(t *testing.T) {
	in := []byte(`{"b":"\u00e9","a":[1,2],"_session_expiry":5,"c":{"x":null}}`)
	got, err := SetKey(in, "_session_expiry", json.RawMessage("3600"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":"\u00e9","a":[1,2],"_session_expiry":3600,"c":{"x":null}}`; string(got) != want {
		t.Errorf("SetKey replace = %s, want %s", got, want)
	}
	got, err = SetKey([]byte(`{"a":1}`), "_session_expiry", json.RawMessage("7"))
	if err != nil || string(got) != `{"a":1,"_session_expiry":7}` {
		t.Errorf("SetKey append = %s, %v", got, err)
	}
	got, err = SetKey([]byte(`{}`), "k", json.RawMessage("7"))
	if err != nil || string(got) != `{"k":7}` {
		t.Errorf("SetKey on {} = %s, %v", got, err)
	}
	if _, err := SetKey([]byte(`[1]`), "k", json.RawMessage("7")); !errors.Is(err, ErrMalformed) {
		t.Errorf("SetKey on an array = %v, want ErrMalformed", err)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, s := range []string{
		"", "x", "::", "a:b:c", "!!!!", b64std("nohash"), b64std("h:[1,2]"), b64std("h:not json"),
		".!!!:1xYKU4:sig", ".eJwrSS0u:1xYKU4:sig", b64url(`"str"`) + ":1xYKU4:sig", b64url("{}") + ":@@:sig",
	} {
		if _, err := Decode(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestDecodeBoundsDecompression(t *testing.T) {
	big := append([]byte(`{"a":"`), bytes.Repeat([]byte("x"), maxJSON)...)
	big = append(big, `"}`...)
	row, err := NewKeys("k").Encode(big, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(row, ".") {
		t.Fatal("expected a compressed row")
	}
	if _, err := Decode(row); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode(zip bomb) = %v, want ErrMalformed", err)
	}
}

func TestKeysNeverPrintSecrets(t *testing.T) {
	k := NewKeys("very-secret-value", "old-secret-value")
	for _, s := range []string{k.String(), k.GoString()} {
		if strings.Contains(s, "secret-value") {
			t.Fatalf("Keys printed a secret: %s", s)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("eyJhIjoxfQ:1xYKU4:sig")
	f.Add(".eJyrVkpUslIyVKoFAAn0AiE:1xYKU4:sig")
	f.Add(b64std("abc:{}"))
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Decode(s)
		if err == nil && d.Dict == nil {
			t.Fatal("nil dict without error")
		}
		_, _ = NewKeys("k").Verify(d)
	})
}

// TestAgainstLiveDjango writes rows with the installed Django and checks
// that Go reads and verifies them, then writes rows in Go (both formats,
// both algorithms, a dict changed with SetKey) and checks that Django reads
// them back as the same dicts.
func TestAgainstLiveDjango(t *testing.T) {
	djangotest.Require(t)
	secret := "live-" + time.Now().Format(time.RFC3339Nano)
	dict := map[string]any{"user": "zoë", "user_id": 9, "_auth_user_id": "9", "login_time": "2026-12-01T10:00:00+00:00"}
	req, _ := json.Marshal(map[string]any{"secret": secret, "cases": []map[string]any{
		{"name": "signed", "dict": dict, "kind": "signed"},
		{"name": "legacy", "dict": dict, "kind": "legacy"},
		{"name": "sha1", "dict": dict, "kind": "signed-sha1"},
		{"name": "pickle", "dict": dict, "kind": "pickle"},
	}})
	var rows map[string]string
	if err := json.Unmarshal(djangotest.Run(t, "testdata", nil, req, "djangosign.py", "gen"), &rows); err != nil {
		t.Fatal(err)
	}
	keys := NewKeys(secret)
	for name, row := range rows {
		d, err := Decode(row)
		if name == "pickle" {
			if !errors.Is(err, ErrPickle) {
				t.Errorf("pickle row: %v, want ErrPickle", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := keys.Verify(d); err != nil {
			t.Errorf("%s: Verify: %v", name, err)
		}
		if !reflect.DeepEqual(normal(t, d.Dict), normal(t, dict)) {
			t.Errorf("%s: dict %v", name, d.Dict)
		}
	}

	js := PyDumps(Member{"user", "zoë"}, Member{"user_id", 9}, Member{"_auth_user_id", "9"}, Member{"pad", strings.Repeat("ab", 100)})
	extended, err := SetKey(js, "_session_expiry", json.RawMessage("3600"))
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, c := range []struct {
		js []byte
		o  EncodeOptions
	}{
		{js, EncodeOptions{}}, {js, EncodeOptions{Algorithm: SHA1}}, {js, EncodeOptions{Format: FormatLegacy}},
		{extended, EncodeOptions{}}, {[]byte(`{"a":1}`), EncodeOptions{}},
	} {
		row, err := keys.Encode(c.js, c.o)
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, row)
	}
	req, _ = json.Marshal(map[string]any{"secret": secret, "rows": ours})
	var back []map[string]any
	if err := json.Unmarshal(djangotest.Run(t, "testdata", nil, req, "djangosign.py", "verify"), &back); err != nil {
		t.Fatal(err)
	}
	wantJS := [][]byte{js, js, js, extended, []byte(`{"a":1}`)}
	for i, got := range back {
		var want map[string]any
		_ = json.Unmarshal(wantJS[i], &want)
		if !reflect.DeepEqual(normal(t, got), normal(t, want)) {
			t.Errorf("Django read our row %d (%s) as %v, want %v", i, ours[i], got, want)
		}
	}
}

func b64url(s string) string { return strings.TrimRight(base64URL(s), "=") }
