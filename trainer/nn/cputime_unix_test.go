//go:build unix

package nn

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time used by the process so far. On a shared
// machine it is a steadier measure than wall time: cpu-ms/op divided by the
// number of cores is what a step would take with the cores to itself.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
