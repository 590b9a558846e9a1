//go:build !amd64 || purego

package kernels

// archKernelSets returns no assembly kernel sets: this build has only the
// pure-Go kernels.
func archKernelSets() []*kernelSet { return nil }
