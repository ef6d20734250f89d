package django

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestKeyMapMatchesAMap: the index's key map finds, replaces and forgets
// sessions as a Go map does, through growth, probes that wrap past the
// table's end and deletions that shift later keys back (a lost key there
// is a session the dashboard no longer shows or cannot force out). Small
// tables, so that every path runs thousands of times.
func TestKeyMapMatchesAMap(t *testing.T) {
	for _, sized := range []int{0, 100, 1000} {
		t.Run(fmt.Sprintf("sized%d", sized), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(sized), 7))
			m := newKeyMapSized(nil, sized)
			want := map[string]entry{}
			var keys []string // every key ever set, live or not
			key := func() string {
				if len(keys) > 0 && r.IntN(3) > 0 {
					return keys[r.IntN(len(keys))]
				}
				const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
				b := make([]byte, 32)
				for i := range b {
					b[i] = digits[r.IntN(len(digits))]
				}
				keys = append(keys, string(b))
				return string(b)
			}
			for op := range 40000 {
				// Up to ~1500 live keys, churning: the mix of a site's
				// logins, saves and logouts.
				k := key()
				switch {
				case r.IntN(3) == 0 || len(want) > 1500:
					m.del(k)
					delete(want, k)
				default:
					e := entry{expire: int64(op + 1), login: zeroMicros, last: int64(r.IntN(1e6)) * 1e6, user: uint32(r.IntN(1000))}
					m.set(k, e)
					want[k] = e
				}
				if op%997 == 0 {
					checkKeyMap(t, &m, want, keys)
				}
			}
			checkKeyMap(t, &m, want, keys)
			m.deleteIf(func(e entry) bool { return e.expire%2 == 0 })
			for k, e := range want {
				if e.expire%2 == 0 {
					delete(want, k)
				}
			}
			checkKeyMap(t, &m, want, keys)
		})
	}
}

func checkKeyMap(t *testing.T, m *keyMap, want map[string]entry, keys []string) {
	t.Helper()
	if m.len() != len(want) {
		t.Fatalf("len %d, want %d", m.len(), len(want))
	}
	for _, k := range keys {
		got, ok := m.get(k)
		w, in := want[k]
		if ok != in || got != w {
			t.Fatalf("get(%s) = %+v, %v; want %+v, %v", k, got, ok, w, in)
		}
	}
	n := 0
	m.each(func(k32 [32]byte, k string, e entry) {
		n++
		if w, ok := want[keyString(k32, k)]; !ok || w != e {
			t.Fatalf("each gave %s %+v, want %+v, %v", keyString(k32, k), e, w, ok)
		}
	})
	if n != len(want) {
		t.Fatalf("each gave %d entries, want %d", n, len(want))
	}
}

// TestKeyMapSizedHoldsItsKeys: the table sized at the cold build for a
// site's sessions takes them and an eighth more without growing (growing
// doubles it: 12 MB at a million), and its size is a load of 2/3, not the
// power of two above (8 MB at a million, where 6 do).
func TestKeyMapSizedHoldsItsKeys(t *testing.T) {
	const n = 10000
	m := newKeyMapSized(nil, n)
	size := len(m.tab)
	if size != n*3/2 {
		t.Fatalf("a table for %d keys has %d positions, want %d", n, size, n*3/2)
	}
	for i := range n + n/8 {
		m.set(fmt.Sprintf("%032d", i), entry{expire: 1})
	}
	if len(m.tab) != size {
		t.Fatalf("the table grew from %d to %d positions at %d keys", size, len(m.tab), m.len())
	}
}

// BenchmarkKeyMapFind: a full sync's look-up of each row's key (seeSame)
// in a map of a million sessions: "there" finds keys that are there, in
// the order the map took them (a full sync reads rows in key order, as
// the cold build did), "absent" misses (a login the index has not read).
// The table's load sets the probes: see tableSize.
func BenchmarkKeyMapFind(b *testing.B) {
	const n = 1_000_000
	m := newKeyMapSized(nil, n)
	keys := make([]packed, 2*n)
	for i := range keys {
		k := fmt.Sprintf("%032d", i)
		keys[i], _ = packKey(k)
		if i < n {
			m.set(k, entry{expire: 1})
		}
	}
	for _, c := range []struct {
		name string
		keys []packed
		want bool
	}{{"there", keys[:n], true}, {"absent", keys[n:], false}} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, _, ok := m.find(&c.keys[i]); ok != c.want {
					b.Fatalf("find %d: %v", i, ok)
				}
				if i++; i == len(c.keys) {
					i = 0
				}
			}
		})
	}
}
