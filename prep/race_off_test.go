//go:build !race

package prep

// raceDetector is true in a test binary built with -race.
const raceDetector = false
