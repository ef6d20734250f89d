//go:build unix

package offheap

import (
	"os"
	"syscall"
)

const mappable = true

func mapRegion(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

func unmapRegion(b []byte) {
	mapped.Add(-int64(len(b)))
	if poison.Load() {
		// Return the pages and forbid any access: a later read or write
		// faults. The mapping stays, so the addresses are never reused.
		_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
		if err := syscall.Mprotect(b, syscall.PROT_NONE); err != nil {
			panic("offheap: mprotect: " + err.Error())
		}
		return
	}
	if err := syscall.Munmap(b); err != nil {
		// Only a region this package did not map can fail here.
		panic("offheap: munmap: " + err.Error())
	}
}

func pageSize() int { return os.Getpagesize() }

// releasePages returns b's pages (page-aligned) and keeps the mapping.
func releasePages(b []byte) { _ = syscall.Madvise(b, syscall.MADV_DONTNEED) }
