package django

import (
	"os"
	"testing"

	"sessionmon/internal/offheap"
)

// TestMain poisons what the index frees (internal/offheap): a use of a
// freed table or arena faults in the test that makes it, instead of
// reading whatever is mapped there next.
func TestMain(m *testing.M) {
	offheap.Poison(true)
	os.Exit(m.Run())
}
