//go:build !race

package reliability

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = false
