package sessionlogic

import (
	"errors"
	"fmt"
	"testing"
)

func TestSplitRowErrors(t *testing.T) {
	r1, r2 := &RowError{SessionID: "a"}, &RowError{SessionID: "b"}
	if bad, rest := SplitRowErrors(nil); bad != nil || rest != nil {
		t.Fatal("nil error split into something")
	}
	bad, rest := SplitRowErrors(errors.Join(r1, fmt.Errorf("list: %w", r2)))
	if len(bad) != 2 || rest != nil {
		t.Fatalf("only corrupt rows: %d bad, rest %v; want 2 and nil", len(bad), rest)
	}
	down := errors.New("connection refused")
	bad, rest = SplitRowErrors(errors.Join(r1, down))
	if len(bad) != 1 || !errors.Is(rest, down) {
		t.Fatalf("a row and a failure: %d bad, rest %v; want 1 and the failure", len(bad), rest)
	}
	if bad, rest = SplitRowErrors(down); len(bad) != 0 || rest != down {
		t.Fatalf("a plain failure: %d bad, rest %v", len(bad), rest)
	}
}
