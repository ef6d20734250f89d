//go:build !race

package django

// raceEnabled: see race_on_test.go.
const raceEnabled = false
