package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// guardedBytes returns a slice of n bytes that ends where an inaccessible
// page begins, so that reading one byte past it faults, and a function that
// unmaps it.
func guardedBytes(t *testing.T, n int) ([]uint8, func()) {
	page := os.Getpagesize()
	size := (n+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	return mem[size-page-n : size-page : size-page], func() { syscall.Munmap(mem) }
}

// The kernels read A only within len(a): with A ending at an inaccessible
// page, every row count and k tail runs without faulting, and gives the
// reference's bits.
func TestGemmU8S8StaysInA(t *testing.T) {
	r := rand.New(rand.NewPCG(89, 90))
	for _, k := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 783, 784, 785} {
		for _, padA := range []int{0, 1} {
			for m := 1; m <= 13; m++ {
				g := s8Case{m, k, 33, padA, 0}
				src, lda, p, c0, ldc := s8Operands(r, g)
				a, free := guardedBytes(t, len(src))
				copy(a, src)
				want := s8Reference(m, a, lda, p, p.bias[:g.n])
				for _, ks := range s8Sets() {
					c := append([]float32(nil), c0...)
					gemmU8S8(ks, 1, m, a, lda, p, c, ldc)
					checkS8(t, fmt.Sprint(ks.name, " guarded"), g, c, ldc, want)
				}
				free()
			}
		}
	}
}

// guardedFloats is guardedBytes for n float32 values.
func guardedFloats(t *testing.T, n int) ([]float32, func()) {
	mem, free := guardedBytes(t, 4*n)
	if n == 0 {
		return nil, free
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), n), free
}

// QuantizeRowsU8 reads x and writes dst only within their lengths: with
// both ending at an inaccessible page, every tail runs without faulting and
// gives the reference's bytes.
func TestQuantizeRowsU8StaysInBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(113, 114))
	for k := 1; k <= 70; k++ {
		for _, pad := range []int{0, 1} {
			for m := 1; m <= 3; m++ {
				ldx, ldd := k+pad, k+2*pad
				src, _, _ := u8Operands(r, m, k, ldx, ldd)
				x, freeX := guardedFloats(t, len(src))
				copy(x, src)
				for _, ks := range s8Sets() {
					dst, freeD := guardedBytes(t, (m-1)*ldd+k)
					for i := range dst {
						dst[i] = u8Guard
					}
					scale := make([]float32, m+1)
					scale[m] = math.Float32frombits(s8Guard)
					quantizeRowsU8(ks, m, k, x, ldx, dst, ldd, scale)
					guarded := append(append([]uint8(nil), dst...), make([]uint8, ldd-k)...)
					for i := len(dst); i < len(guarded); i++ {
						guarded[i] = u8Guard
					}
					checkU8(t, fmt.Sprint(ks.name, " guarded"), m, k, x, ldx, guarded, ldd, scale)
					freeD()
				}
				freeX()
			}
		}
	}
}
