package sessionlogic

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestNewTokenIsLongRandomAndWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		tok := NewToken()
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatalf("token %q is not base64url: %v", tok, err)
		}
		if len(raw)*8 < 128 {
			t.Fatalf("token carries %d bits, want at least 128", len(raw)*8)
		}
		if !wellFormed(tok) {
			t.Fatalf("NewToken() = %q is not wellFormed", tok)
		}
		if seen[tok] {
			t.Fatalf("token repeated after %d draws", i)
		}
		seen[tok] = true
	}
}

func TestHashTokenIsSessionIDShapedAndNotTheToken(t *testing.T) {
	tok := NewToken()
	id := HashToken(tok)
	if !ValidSessionID(id) {
		t.Fatalf("HashToken = %q, want 64 hex digits", id)
	}
	if strings.Contains(id, tok) || HashToken(tok) != id {
		t.Fatalf("hash must be deterministic and must not contain the token")
	}
	if wellFormed(id) {
		t.Fatalf("a session id must not be accepted as a token (table copy replay)")
	}
}

func TestWellFormedRejectsGarbage(t *testing.T) {
	good := NewToken()
	for _, s := range []string{
		"", "x", good[:len(good)-1], good + "A", strings.Repeat("A", 10000),
		good[:len(good)-1] + "=", good[:len(good)-1] + "/", good[:len(good)-1] + "\x00",
		good[:len(good)-2] + "é",
	} {
		if wellFormed(s) {
			t.Errorf("wellFormed(%q) = true", s)
		}
	}
}

func FuzzTokenHandling(f *testing.F) {
	f.Add(NewToken())
	f.Add("")
	f.Add(strings.Repeat("a", 43))
	f.Add("\xff\xfe" + strings.Repeat("=", 41))
	f.Fuzz(func(t *testing.T, s string) {
		ok := wellFormed(s)
		if ok && len(s) != tokenLen {
			t.Fatalf("accepted %d-byte token", len(s))
		}
		if ok {
			if _, err := base64.RawURLEncoding.DecodeString(s); err != nil {
				t.Fatalf("accepted non-base64url %q", s)
			}
		}
		_ = HashToken(s)
		if ValidSessionID(s) && len(s) != 64 {
			t.Fatalf("accepted %q as a session id", s)
		}
	})
}
