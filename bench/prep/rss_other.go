//go:build !unix

package main

import "os"

// maxRSSKiB is 0 where the OS reports no peak RSS for a child (Windows'
// Rusage holds times only): the RSS lines then read 0.
func maxRSSKiB(*os.ProcessState) int64 { return 0 }
