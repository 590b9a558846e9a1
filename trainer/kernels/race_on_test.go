//go:build race

package kernels

// raceDetector is true under -race, which slows the products of the tests
// that compare kernel sets by an order of magnitude: they test fewer shapes.
const raceDetector = true
