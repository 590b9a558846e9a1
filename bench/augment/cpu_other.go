//go:build !unix && !windows

package main

import "math"

// cpuSeconds is not available here: the images/cpu-s figure reads NaN.
func cpuSeconds() float64 { return math.NaN() }
