package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
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
