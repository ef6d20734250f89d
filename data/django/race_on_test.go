//go:build race

package django

// raceEnabled: the test binary runs under the race detector (about ten
// times slower), so the load tests write less.
const raceEnabled = true
