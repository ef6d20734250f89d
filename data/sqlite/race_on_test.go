//go:build race

package sqlite_test

// raceEnabled: the test binary runs under the race detector (about ten
// times slower), so the load tests write less.
const raceEnabled = true
