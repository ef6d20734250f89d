package django

import (
	"fmt"
	"strings"
	"testing"
)

// TestInternTables: a user or client interned again gets its number back,
// one that differs in any field gets its own, across the tables' growth,
// and every string reads back as written (a record longer than an arena
// chunk included).
func TestInternTables(t *testing.T) {
	var users userTable
	var clients clientTable
	long := strings.Repeat("x", arenaChunk+10)
	mk := func(i int) userInfo {
		return userInfo{id: int64(i % 7), username: fmt.Sprintf("u%d", i), email: fmt.Sprintf("u%d@x", i/2), fullName: "", role: []string{"a", "b"}[i%2], status: "active"}
	}
	nums := map[int]uint32{}
	for i := range 5000 {
		nums[i] = users.intern(mk(i))
		clients.intern(client{ip: fmt.Sprintf("10.0.%d.%d", i/256, i%256), ua: []string{"ua1", "ua2", long}[i%3]})
	}
	if users.len() != 5000 || clients.len() != 5000 {
		t.Fatalf("%d users, %d clients, want 5000 each", users.len(), clients.len())
	}
	for i := range 5000 {
		if got := users.intern(mk(i)); got != nums[i] {
			t.Fatalf("user %d interned again as %d, was %d", i, got, nums[i])
		}
		if got := users.at(nums[i]); got != mk(i) {
			t.Fatalf("user %d reads back as %+v", i, got)
		}
		c := client{ip: fmt.Sprintf("10.0.%d.%d", i/256, i%256), ua: []string{"ua1", "ua2", long}[i%3]}
		if got := clients.at(clients.intern(c)); got != c {
			t.Fatalf("client %d reads back as %.40v", i, got)
		}
	}
	u := mk(1)
	u.id = 99
	if users.intern(u) == nums[1] {
		t.Error("a user with another id got the same number")
	}
	if clients.intern(client{ip: "10.0.0.1", ua: "ua3"}) == clients.intern(client{ip: "10.0.0.1", ua: "ua1"}) {
		t.Error("a client with another user agent got the same number")
	}
	big := userInfo{username: long, email: "e"}
	if got := users.at(users.intern(big)); got != big {
		t.Error("a record longer than a chunk does not read back")
	}
}

// TestGCReturnsTheTablesMemory: when the site's sessions churn, gc
// replaces the user and client tables, and the old ones' memory (mapped
// outside the Go heap) goes back at once, so the index stays bounded by the
// live sessions over hours, not by every user ever seen.
func TestGCReturnsTheTablesMemory(t *testing.T) {
	x := benchIndex(200000) // 50,000 users and clients: 4 MiB of arenas
	x.mu.Lock()
	defer x.mu.Unlock()
	full := x.mem.Size()
	kept := 0
	x.m.deleteIf(func(e entry) bool {
		kept++
		return kept > 100
	})
	x.gc()
	if x.users.len() > 100 || x.clients.len() > 100 {
		t.Fatalf("gc kept %d users and %d clients for 100 sessions", x.users.len(), x.clients.len())
	}
	after := x.mem.Size()
	// What is left: the key map (it keeps its chunks for the next
	// sessions) and two small tables (an arena chunk, 1 MiB, each).
	if back := full - after; back < 2<<20 {
		t.Fatalf("gc returned %d bytes of %d mapped; the old tables hold more than 4 MiB", back, full)
	}
	for i := range x.users.len() {
		if u := x.users.at(uint32(i)); u.username == "" {
			t.Fatalf("user %d lost its name after gc", i)
		}
	}
}
