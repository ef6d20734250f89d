//go:build !race

package server

// raceEnabled: see wal_race_on_test.go.
const raceEnabled = false
