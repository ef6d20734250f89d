// Package offheap allocates pointer-free memory outside the Go heap.
//
// The Django source's index holds about 90 bytes a session of numbers and
// bytes, 90 MB at a million sessions (issue 10 wants the whole dashboard
// under 128 MB there). On the Go heap that memory is never scanned, but it
// still counts as live heap: the collector lets the heap grow to twice what
// is live before it runs (GOGC=100), so 90 MB of index made a 290 MB
// process. Memory mapped here is outside the collector's accounting: the
// heap target follows only what the rest of the process keeps, and the
// index costs its own size. It is also returned to the system the moment
// it is freed, where the Go heap returns freed spans in the background.
//
// Memory belongs to an Owner. Free returns one allocation early (a table
// that grew, a buffer used for a sort); Release returns everything the
// owner still holds, and a cleanup attached to the Go object that uses the
// owner (Attach) calls it when that object becomes unreachable, so an
// index dropped without a Close still gives its memory back.
//
// The rules that keep this safe: only types without pointers (checked at
// run time on each allocation), and no slice, pointer or string into the
// memory may outlive the owner or be used after Free. In tests, Poison
// makes every freed region inaccessible instead of returning it, so that a
// use after free faults at once instead of reading what the next
// allocation wrote.
//
// Where anonymous mappings are not available (non-unix builds) and for a
// nil Owner, allocations come from the Go heap and Free and Release do
// nothing: the same code, with the collector's accounting.
package offheap

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Owner tracks the regions it has mapped. Its methods are safe for
// concurrent use.
type Owner struct {
	mu   sync.Mutex
	live map[uintptr][]byte // base address → the mapping
	size int                // bytes mapped
}

// NewOwner returns an owner with nothing mapped.
func NewOwner() *Owner { return &Owner{live: map[uintptr][]byte{}} }

// Attach releases o's memory when obj becomes unreachable. obj must not be
// reachable from o (it never is: an Owner holds only its mappings).
func Attach[T any](obj *T, o *Owner) {
	if o != nil {
		runtime.AddCleanup(obj, (*Owner).Release, o)
	}
}

// Make returns a zeroed slice of n T's, len and cap n, mapped for o (or
// from the Go heap for a nil o, a zero n, or where mapping is not
// available). T must hold no pointers.
func Make[T any](o *Owner, n int) []T {
	var zero T
	checkPointerFree(reflect.TypeOf(zero))
	size := int(unsafe.Sizeof(zero))
	if o == nil || n == 0 || size == 0 || !mappable {
		return make([]T, n)
	}
	if n < 0 || n > maxBytes/size {
		panic(fmt.Sprintf("offheap: %d elements of %d bytes", n, size))
	}
	b, err := mapRegion(n * size)
	if err != nil {
		// The system refused more memory: what make would do on the
		// heap (a fatal error) is no better, but this says why.
		panic(fmt.Sprintf("offheap: mapping %d bytes: %v", n*size, err))
	}
	o.mu.Lock()
	o.live[uintptr(unsafe.Pointer(&b[0]))] = b
	o.size += len(b)
	o.mu.Unlock()
	mapped.Add(int64(len(b)))
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// New returns a pointer to one zeroed T, mapped for o (see Make).
func New[T any](o *Owner) *T { return &Make[T](o, 1)[0] }

// Free returns s, made by Make for o, to the system. Nothing may use s or
// anything derived from it afterwards. Slices from the Go heap (a nil o,
// or a region o does not hold) are left to the collector.
func Free[T any](o *Owner, s []T) {
	if o == nil || cap(s) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	o.mu.Lock()
	b, ok := o.live[base]
	if ok {
		delete(o.live, base)
		o.size -= len(b)
	}
	o.mu.Unlock()
	if ok {
		unmapRegion(b)
	}
}

// Grow returns s with room for at least n more elements: s itself when it
// has it, else a new region (double the size) holding s's elements, s
// freed. Like append, the caller must use only the result.
func Grow[T any](o *Owner, s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	t := Make[T](o, max(2*cap(s), len(s)+n, 64))[:len(s)]
	copy(t, s)
	Free(o, s)
	return t
}

// Append is append for slices made by Make.
func Append[T any](o *Owner, s []T, v ...T) []T {
	s = Grow(o, s, len(v))
	return append(s, v...)
}

// Trim gives the pages of the region under s that lie past s's last
// element back to the system (they read as zero if touched again): for a
// region whose use shrank in place, such as a sort buffer compacted into
// its first half. s must start where a region made for o starts; Free of
// s (or of the slice it was made as) returns the whole region.
func Trim[T any](o *Owner, s []T) {
	if o == nil {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	o.mu.Lock()
	b, ok := o.live[base]
	o.mu.Unlock()
	if !ok {
		return
	}
	var zero T
	used := len(s) * int(unsafe.Sizeof(zero))
	page := pageSize()
	from := (used + page - 1) / page * page
	if from < len(b) {
		releasePages(b[from:])
	}
}

// Release returns every region o still holds. Nothing may use them
// afterwards.
func (o *Owner) Release() {
	o.mu.Lock()
	live := o.live
	o.live, o.size = map[uintptr][]byte{}, 0
	o.mu.Unlock()
	for _, b := range live {
		unmapRegion(b)
	}
}

// Size is how many bytes o has mapped.
func (o *Owner) Size() int {
	if o == nil {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.size
}

// mapped counts the bytes mapped by every owner (Mapped).
var mapped atomic.Int64

// Mapped is how many bytes are mapped by every owner in the process: what
// the process's RSS holds beyond runtime.MemStats.
func Mapped() int64 { return mapped.Load() }

var poison atomic.Bool

// Poison makes freed regions inaccessible instead of unmapping them (for
// tests: a use after free faults). Their address space is never reused;
// their memory is returned.
func Poison(on bool) { poison.Store(on) }

const maxBytes = 1 << 40

var pointerFree sync.Map // reflect.Type → bool

// checkPointerFree panics when t holds pointers: memory the collector does
// not see must not hold the only reference to anything on the heap. This
// is a programming error, found by the first allocation of the type.
func checkPointerFree(t reflect.Type) {
	if ok, seen := pointerFree.Load(t); seen && ok.(bool) {
		return
	}
	if !noPointers(t) {
		panic(fmt.Sprintf("offheap: %v holds pointers", t))
	}
	pointerFree.Store(t, true)
}

func noPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || noPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !noPointers(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false // pointers, slices, strings, maps, chans, funcs, interfaces, uintptr
}
