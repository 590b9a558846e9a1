package prep

import "sync"

// slicePool recycles pixel buffers between the graph's items, so memory
// stays at the graph's buffers rather than growing with garbage.
type slicePool[T any] struct{ p sync.Pool }

func (sp *slicePool[T]) get(n int) []T {
	if v, ok := sp.p.Get().(*[]T); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]T, n)
}

func (sp *slicePool[T]) put(s []T) {
	if cap(s) > 0 {
		sp.p.Put(&s)
	}
}

var bytePool slicePool[uint8]
