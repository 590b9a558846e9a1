//go:build !unix && !windows

package nn

import "time"

// cpuTime is 0 where no process CPU time is available: cpu-ms/op reads 0.
func cpuTime() time.Duration { return 0 }
