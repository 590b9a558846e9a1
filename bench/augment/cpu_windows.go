//go:build windows

package main

import (
	"math"
	"syscall"
)

// cpuSeconds is the user+system CPU time of this process so far.
func cpuSeconds() float64 {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return math.NaN()
	}
	var creation, exit, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(h, &creation, &exit, &kernel, &user); err != nil {
		return math.NaN()
	}
	// Filetimes count 100 ns units; as durations they start at zero.
	return float64(kernel.Nanoseconds()+user.Nanoseconds()) / 1e9
}
