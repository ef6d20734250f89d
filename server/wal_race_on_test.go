//go:build race

package server

// raceEnabled: the test binary runs under the race detector (about ten
// times slower), so the load tests send less.
const raceEnabled = true
