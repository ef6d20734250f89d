package sqlite

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeSessionNeverPanics(t *testing.T) {
	good := []any{"abc", int64(1), "u", "", "", "", "", "{}", "", "", int64(1), int64(2), int64(3), nil, nil, "", "", int64(7)}
	if _, err := decodeSession(good); err != nil {
		t.Fatalf("good row: %v", err)
	}
	for i := range good {
		for _, bad := range []any{"2024-01-01", 1.5, []byte{0xff}, true, nil, int64(-1)} {
			row := append([]any(nil), good...)
			row[i] = bad
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("column %d = %#v: panic %v", i, bad, r)
					}
				}()
				_, err := decodeSession(row)
				var ce *CorruptRowError
				if err != nil && (!errors.As(err, &ce) || !strings.Contains(err.Error(), "corrupt session row")) {
					t.Errorf("column %d = %#v: error %v is not a CorruptRowError", i, bad, err)
				}
				if err != nil && i != 0 && ce.SessionID != "abc" {
					t.Errorf("column %d = %#v: error names %q, want abc", i, bad, ce.SessionID)
				}
			}()
		}
	}
	for _, js := range []string{`{"a":`, `[1,2]`, `"s"`, `42`} {
		row := append([]any(nil), good...)
		row[7] = js
		if _, err := decodeSession(row); err == nil {
			t.Errorf("data %s accepted", js)
		}
	}
}
