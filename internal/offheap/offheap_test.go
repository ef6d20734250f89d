package offheap

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

type slot struct {
	key  [22]byte
	when int64
	n    uint32
}

func TestMakeIsZeroedWritableAndCounted(t *testing.T) {
	o := NewOwner()
	defer o.Release()
	before := Mapped()
	s := Make[slot](o, 1000)
	if len(s) != 1000 || cap(s) != 1000 {
		t.Fatalf("len %d cap %d, want 1000", len(s), cap(s))
	}
	for i := range s {
		if s[i] != (slot{}) {
			t.Fatalf("slot %d not zero: %+v", i, s[i])
		}
		s[i].n = uint32(i)
	}
	for i := range s {
		if s[i].n != uint32(i) {
			t.Fatalf("slot %d reads %d", i, s[i].n)
		}
	}
	want := 1000 * 40 // unsafe.Sizeof(slot{}) with padding
	if o.Size() < want || Mapped()-before < int64(want) {
		t.Fatalf("owner size %d, mapped %+d: want at least %d", o.Size(), Mapped()-before, want)
	}
	Free(o, s)
	if o.Size() != 0 || Mapped() != before {
		t.Fatalf("after Free: owner size %d, mapped %+d, want 0", o.Size(), Mapped()-before)
	}
}

func TestAppendKeepsElementsAcrossGrowth(t *testing.T) {
	o := NewOwner()
	defer o.Release()
	var s []uint32
	for i := range 100000 {
		s = Append(o, s, uint32(i))
	}
	for i, v := range s {
		if v != uint32(i) {
			t.Fatalf("element %d is %d", i, v)
		}
	}
	// Only the last region is still held: every grown-out one was freed.
	if got, max := o.Size(), 4*2*100000+4096; got > max {
		t.Fatalf("owner holds %d bytes after growth, want at most %d", got, max)
	}
}

func TestReleaseReturnsEverything(t *testing.T) {
	o := NewOwner()
	before := Mapped()
	for range 10 {
		Make[uint64](o, 1<<16)
	}
	New[slot](o)
	o.Release()
	if o.Size() != 0 || Mapped() != before {
		t.Fatalf("after Release: owner %d bytes, mapped %+d", o.Size(), Mapped()-before)
	}
}

func TestAttachReleasesWhenTheUserIsGone(t *testing.T) {
	before := Mapped()
	func() {
		type user struct{ s []uint64 }
		o := NewOwner()
		u := &user{s: Make[uint64](o, 1<<16)}
		Attach(u, o)
		if Mapped()-before < 8<<16 {
			t.Fatalf("mapped %+d after Make", Mapped()-before)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for Mapped() != before {
		if time.Now().After(deadline) {
			t.Fatalf("still %+d bytes mapped after the owner's user became unreachable", Mapped()-before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPointersAreRefused(t *testing.T) {
	for name, f := range map[string]func(){
		"pointer": func() { Make[*int](NewOwner(), 1) },
		"string":  func() { Make[string](NewOwner(), 1) },
		"struct": func() {
			Make[struct {
				a int
				b []byte
			}](NewOwner(), 1)
		},
		"array":   func() { Make[[4]map[int]int](NewOwner(), 1) },
		"uintptr": func() { Make[uintptr](NewOwner(), 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Make did not refuse a type with pointers", name)
				}
			}()
			f()
		}()
	}
}

func TestNilOwnerUsesTheHeap(t *testing.T) {
	before := Mapped()
	s := Make[uint32](nil, 100)
	s = Append(nil, s, 7)
	Free(nil, s)
	if s[100] != 7 || Mapped() != before {
		t.Fatalf("nil owner: s[100]=%d, mapped %+d", s[100], Mapped()-before)
	}
}

func TestPoisonedFreeFaultsOnUse(t *testing.T) {
	if !mappable {
		t.Skip("no anonymous mappings on this platform")
	}
	Poison(true)
	defer Poison(false)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	o := NewOwner()
	s := Make[uint64](o, 1024)
	s[5] = 1
	Free(o, s)
	defer func() {
		if recover() == nil {
			t.Fatal("a read after Free did not fault")
		}
	}()
	sink = s[5]
}

var sink uint64

// Trim returns the pages past a slice's end (they read as zero again), keeps
// what is before it, and Free of the trimmed slice returns the whole region.
func TestTrimReturnsTheTail(t *testing.T) {
	if !mappable {
		t.Skip("no anonymous mappings on this platform")
	}
	o := NewOwner()
	before := Mapped()
	s := Make[uint64](o, 1<<16) // 512 KiB
	for i := range s {
		s[i] = uint64(i) + 1
	}
	kept := s[:1000]
	Trim(o, kept)
	for i, v := range kept {
		if v != uint64(i)+1 {
			t.Fatalf("kept element %d is %d after Trim", i, v)
		}
	}
	page := pageSize() / 8
	firstGone := (1000 + page - 1) / page * page
	if s[firstGone] != 0 || s[len(s)-1] != 0 {
		t.Fatalf("elements past the kept pages still hold %d and %d: the tail was not returned", s[firstGone], s[len(s)-1])
	}
	Free(o, kept)
	if Mapped() != before || o.Size() != 0 {
		t.Fatalf("after Free of the trimmed slice: mapped %+d, owner %d", Mapped()-before, o.Size())
	}
}
