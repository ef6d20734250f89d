package django

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"time"
	"unsafe"

	"sessionmon/data"
	"sessionmon/internal/offheap"
)

// Kept orders: a pass over every entry (query.go top) costs milliseconds
// at a million sessions, on every poll. Issue 10 wants a poll as cheap at
// 1M as at 10k, so the order the last listing asked for is sorted once
// (the slot numbers by place and key) and kept; a poll then reads it from the
// cursor on, only as far as the page needs. What changed since the sort
// (keyMap logs the slots set or removed) is skipped in the kept order and
// taken, as it is now, from a small sorted list of the changed slots,
// merged in. When the changes pile up (1/32 of the order, at least 4096)
// they are merged into the order itself (remerge), in place; gc (which
// renumbers users) drops the orders, and the next listing sorts anew. A
// filter that the kept order would have to read far to fill a page (a
// rare match) falls back to the pass.

// keptReadMin is how many slots of a kept order a listing may read before
// it makes the pass instead (at least 64 per row asked for).
var keptReadMin = 20000

// keptOrder is one sort key's kept order.
type keptOrder struct {
	ids   []uint32 // slot numbers by place then key, ascending, as sorted
	since int      // the position in keyMap.changed when sorted
}

// orderMaxChanged: changes after which the changed slots are merged into
// an order of n.
func orderMaxChanged(n int) int { return max(orderChangedMin, n/32) }

var orderChangedMin = 4096 // a var: tests merge after a few changes

// changedMax bounds keyMap.changed: past it every order is dropped.
const changedMax = 1 << 20

// resetOrders drops the kept orders and stops the change log.
func (x *index) resetOrders() {
	x.dropOrders()
	x.m.logging, x.m.changed = false, nil
}

// dropOrders drops the kept orders, returning their memory: a kept
// order's slot numbers are mapped for the index (internal/offheap), 4
// bytes a session the collector need not count.
func (x *index) dropOrders() {
	for _, o := range x.qc.orders {
		offheap.Free(x.mem, o.ids)
	}
	x.qc.orders = nil
}

// kept returns the kept order for sl's sort key, sorting it when there is
// none or too much changed since. Under mu.
func (sl *selection) kept() *keptOrder {
	x := sl.x
	if len(x.m.changed) > changedMax {
		x.resetOrders()
	}
	o := x.qc.orders[sl.sort]
	if o != nil && len(x.m.changed)-o.since <= orderMaxChanged(len(o.ids)) {
		return o
	}
	if o != nil && sl.remerge(o) {
		return o
	}
	// One order is kept, the last asked for (4 bytes a session, and the
	// dashboard shows one order at a time): going back to another sorts
	// it again.
	x.dropOrders()
	x.qc.orders = map[data.SortKey]*keptOrder{}
	m := &x.m
	// The change log serves only the kept orders, and the one left is
	// sorted now: start it afresh rather than let it grow to changedMax
	// (4 MB) over the hours between resets.
	m.changed = nil
	// The sort sorts 8 bytes a session: the place coarsened to 32 bits
	// (a rank, or whole seconds, which orders as the place does) above
	// the slot number, the exact place and the key read only on a tie.
	// The buffer (8 MB at 1M) is mapped outside the Go heap, whose target
	// would double it; after the sort its first half holds the kept slot
	// numbers and the second half's pages go back (offheap.Trim).
	buf := offheap.Make[uint64](x.mem, m.n)
	all := buf[:0]
	for c, ch := range m.chunks {
		for i := range m.live(c) {
			if ch.key[i].live() {
				all = append(all, uint64(sl.coarse(sl.placeAt(ch, i)))<<32|uint64(uint32(c)<<chunkBits|uint32(i)))
			}
		}
	}
	slices.SortFunc(all, func(a, b uint64) int {
		if c := cmp.Compare(a>>32, b>>32); c != 0 {
			return c
		}
		return sl.bySlot(uint32(a), uint32(b))
	})
	var ids []uint32
	if len(all) <= len(buf) {
		// In place: ids[i] (bytes 4i to 4i+3) overwrites only elements
		// of all already read (all[i/2] at the latest, i/2 <= i).
		// Its capacity is the whole buffer's, 2*m.n: what remerge merges
		// in grows it in place, into pages given back until then.
		ids = unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(buf))), 2*len(buf))[:len(all)]
		for i, a := range all {
			ids[i] = uint32(a)
		}
		offheap.Trim(x.mem, ids)
	} else { // more live slots than m.n says: all outgrew buf (never expected)
		ids = offheap.Make[uint32](x.mem, len(all))
		for i, a := range all {
			ids[i] = uint32(a)
		}
		offheap.Free(x.mem, buf)
	}
	m.logging = true
	o = &keptOrder{ids: ids, since: len(m.changed)}
	x.qc.orders[sl.sort] = o
	return o
}

// remerge brings the kept order o up to date without sorting it again:
// the slots changed since (each saved session, login and logout) leave
// their old places and the live ones among them, sorted, are merged back
// in where they belong now; what did not change kept its place and its
// order (a new user's rank moves no other user's). It reports false, and
// changes nothing, when o has no room for them.
//
// At a million sessions a sort of the whole order took 270-420 ms, and
// its 8 MB buffer was the dashboard's largest transient; remerge reads
// the order once, in place, and sorts the 31,000 changed slots: on a busy
// site it runs every few minutes.
func (sl *selection) remerge(o *keptOrder) bool {
	x := sl.x
	m := &x.m
	var moved []uint32
	changed, unmark := x.markChanged(m.changed[o.since:], func(id uint32) {
		if ch, i := m.chunkOf(id); ch.key[i].live() {
			moved = append(moved, id)
		}
	})
	defer unmark()
	if len(o.ids)+len(moved) > cap(o.ids) {
		return false
	}
	kept := o.ids[:0]
	for _, id := range o.ids {
		if !changed(id) {
			kept = append(kept, id)
		}
	}
	slices.SortFunc(moved, sl.bySlot)
	// Merge from the back: a write at k never passes the unread kept
	// slots, which end at k - (moved slots left) <= k.
	ids := o.ids[:len(kept)+len(moved)]
	i, j := len(kept)-1, len(moved)-1
	for k := len(ids) - 1; j >= 0; k-- {
		if i >= 0 && sl.bySlot(kept[i], moved[j]) > 0 {
			ids[k] = kept[i]
			i--
		} else {
			ids[k] = moved[j]
			j--
		}
	}
	o.ids = ids
	offheap.Trim(x.mem, ids) // fewer slots than before: the pages past them go back
	// The change log serves only the kept orders, and the one left is
	// current now: start it afresh.
	m.changed, o.since = nil, 0
	return true
}

// markChanged marks the slots of changed in the index's bitset by slot
// number (qc.dirty, kept between polls), calling fn once for each distinct
// one, and returns whether a slot is marked; unmark clears the marks
// (defer it: the bitset is all clear between calls). Under mu.
func (x *index) markChanged(changed []uint32, fn func(id uint32)) (marked func(id uint32) bool, unmark func()) {
	bits := &x.qc.dirty
	if need := int(x.m.used+63) / 64; len(*bits) < need {
		*bits = make([]uint64, need)
	}
	b := *bits
	for _, id := range changed {
		if b[id>>6]&(1<<(id&63)) != 0 {
			continue
		}
		b[id>>6] |= 1 << (id & 63)
		fn(id)
	}
	return func(id uint32) bool { return b[id>>6]&(1<<(id&63)) != 0 },
		func() {
			for _, id := range changed {
				b[id>>6] = 0
			}
		}
}

// bySlot orders two slots as a kept order holds them: by place, then key
// (the sort compares coarse places first, which order as these do).
func (sl *selection) bySlot(a, b uint32) int {
	m := &sl.x.m
	ac, ai := m.chunkOf(a)
	bc, bi := m.chunkOf(b)
	if c := cmp.Compare(sl.placeAt(ac, int(ai)), sl.placeAt(bc, int(bi))); c != 0 {
		return c
	}
	return bytes.Compare(ac.key[ai][:], bc.key[bi][:])
}

// coarse maps a place to 32 bits in the same order (ties aside): a user's
// rank as it is, times (placeAt doubles microseconds) in whole seconds.
func (sl *selection) coarse(p int64) uint32 {
	if sl.sort != data.SortUser {
		p /= 2 * int64(time.Second/time.Microsecond)
	}
	return uint32(min(max(p, 0), math.MaxUint32))
}

// placeAt is a slot's place in the selection's order.
func (sl *selection) placeAt(ch *chunk, i int) int64 {
	switch sl.sort {
	case data.SortUser:
		return int64(sl.rank[ch.user[i]])
	case data.SortLastActivity:
		return 2 * fromSeconds(ch.last[i])
	case data.SortLoginTime:
		return 2 * fromSeconds(ch.login[i])
	}
	return 2 * ch.expire[i]
}

// topKept is top from the kept order; false when it would read too far
// (the caller then makes the pass).
func (sl *selection) topKept(n int) ([]hit, bool) {
	if n <= 0 {
		return nil, true
	}
	x := sl.x
	m := &x.m
	o := sl.kept()
	// The slots changed since the sort: skipped in the order (a bitset by
	// slot number, kept between polls and cleared after), listed apart as
	// they are now.
	// Only the first n changed hits can reach the page: keep those (sorted
	// and cut when the list passes a few pages), not every changed slot,
	// which between two sorts is up to 1/32 of the order (31,000 hits, 3
	// MB, at 1M): built on every poll, that was most of a busy site's
	// garbage.
	byOrder := func(a, b hit) int { return sl.order(a.p, a.keyBytes(), b.p, b.keyBytes()) }
	var fresh []hit
	trim := func() {
		if len(fresh) >= 4*n+64 {
			slices.SortFunc(fresh, byOrder)
			fresh = fresh[:n]
		}
	}
	isDirty, unmark := x.markChanged(m.changed[o.since:], func(id uint32) {
		ch, i := m.chunkOf(id)
		if !ch.key[i].live() || ch.expire[i] <= sl.now {
			return
		}
		p, ok := sl.pass(ch, int(i))
		if !ok || !sl.sideSlot(p, &ch.key[i]) {
			return
		}
		k := ch.key[i].unpack()
		fresh = append(fresh, hit{p: p, k32: k, e: ch.entry(i)})
		trim()
	})
	defer unmark()
	for k, e := range m.other {
		if sl.matches(&e) {
			if p := sl.place(&e); sl.side(p, []byte(k)) {
				fresh = append(fresh, hit{p: p, ks: k, e: e})
				trim()
			}
		}
	}
	slices.SortFunc(fresh, byOrder)

	// The order in the listing's direction: at(j) is its j-th slot.
	ids := o.ids
	at := func(j int) uint32 {
		if sl.desc {
			return ids[len(ids)-1-j]
		}
		return ids[j]
	}
	// The first position after the cursor: the first unchanged slot from
	// j on decides (changed ones are out of place).
	start := 0
	if sl.after {
		lo, hi := 0, len(ids)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			j := mid
			for j < len(ids) && isDirty(at(j)) {
				j++
			}
			after := true
			if j < len(ids) {
				ch, i := m.chunkOf(at(j))
				after = sl.sideSlot(sl.placeAt(ch, int(i)), &ch.key[i])
			}
			if after {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		start = lo
	}
	budget := max(keptReadMin, 64*n)
	out := make([]hit, 0, n)
	f := 0
	for j := start; j < len(ids) && len(out) < n; j++ {
		if budget--; budget < 0 {
			return nil, false
		}
		id := at(j)
		if isDirty(id) {
			continue
		}
		ch, i := m.chunkOf(id)
		if ch.expire[i] <= sl.now {
			continue
		}
		p, ok := sl.pass(ch, int(i))
		if !ok {
			continue
		}
		k := ch.key[i].unpack()
		h := hit{p: p, k32: k, e: ch.entry(i)}
		for f < len(fresh) && len(out) < n && byOrder(fresh[f], h) < 0 {
			out = append(out, fresh[f])
			f++
		}
		if len(out) < n {
			out = append(out, h)
		}
	}
	for f < len(fresh) && len(out) < n {
		out = append(out, fresh[f])
		f++
	}
	return out, true
}
