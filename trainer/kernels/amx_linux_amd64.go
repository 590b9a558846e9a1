//go:build linux && amd64 && !purego

package kernels

import "syscall"

// requestAMX asks Linux for the AMX tile data state (XTILEDATA, feature 18)
// with arch_prctl(ARCH_REQ_XCOMP_PERM): since Linux 5.16 a process must do
// so before its first tile instruction, which otherwise faults. The
// permission is per process and the kernel refuses it when the CPU or the
// kernel lacks AMX, or when the signal stacks are too small for the larger
// signal frame (Go's are 32 KiB; the frame with tile data is about 11 KiB).
func requestAMX() bool {
	const archReqXCompPerm, xfeatureXTileData = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXCompPerm, xfeatureXTileData, 0)
	return errno == 0
}
