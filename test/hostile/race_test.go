//go:build race

package hostile

// raceEnabled is set when the race detector instruments the tests.
const raceEnabled = true
