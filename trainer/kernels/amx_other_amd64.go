//go:build amd64 && !purego && !linux

package kernels

// requestAMX reports false: outside Linux the tile state is not requested,
// so the bf16 GEMM stays on VDPBF16PS.
func requestAMX() bool { return false }
