//go:build !unix

package offheap

const mappable = false

func mapRegion(n int) ([]byte, error) { return make([]byte, n), nil }

func unmapRegion(b []byte) {}

func pageSize() int { return 4096 }

func releasePages(b []byte) {}
