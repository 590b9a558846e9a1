//go:build windows

package nn

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time used by the process so far (see the Unix
// version); 0 if Windows does not report it.
func cpuTime() time.Duration {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0
	}
	var creation, exit, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(h, &creation, &exit, &kernel, &user); err != nil {
		return 0
	}
	return time.Duration(kernel.Nanoseconds() + user.Nanoseconds())
}
