//go:build race

package security_test

// raceEnabled: the race detector is on. It makes bcrypt about fifty times
// slower (one compare at bcrypt.DefaultCost takes seconds on a 2-core
// machine), so the timing test uses a cheaper cost under -race.
const raceEnabled = true
