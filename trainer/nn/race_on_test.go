//go:build race

package nn

// raceDetector is true in a test binary built with -race.
const raceDetector = true
