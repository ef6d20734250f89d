package postgres

import (
	"testing"

	"sessionmon/data"
	"sessionmon/data/storetest"
	"sessionmon/internal/pgtest"
)

// openTest opens a fresh, migrated store in its own schema, closed when t ends.
func openTest(t testing.TB) *Store {
	t.Helper()
	st, err := OpenAndMigrate(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) data.Store { return openTest(t) })
}
