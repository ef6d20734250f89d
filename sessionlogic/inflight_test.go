package sessionlogic

import (
	"testing"

	"sessionmon/data"
)

// The in-flight counts: admitted attempts count on every key of theirs
// until they end; attempts that ended after a flight's read began count
// for it as finished until it reads again; and nothing stays in memory once
// no attempt holds a key.
func TestInflightCountsAndForgets(t *testing.T) {
	var f inflight
	admit := func(fl *flight) { f.admit(fl, func(_, _ data.Failures) (bool, bool) { return true, false }) }
	look := func(fl *flight, again bool) (active, finished data.Failures) {
		f.admit(fl, func(a, fin data.Failures) (bool, bool) { active, finished = a, fin; return false, again })
		return
	}

	a := f.begin(flightKeys("alice", "192.0.2.1"))
	admit(a)
	b := f.begin(flightKeys("alice", "192.0.2.2")) // same user, another IP
	c := f.begin(flightKeys("bob", "192.0.2.1"))   // same IP, another user
	if act, fin := look(b, false); act != (data.Failures{ByUser: 1}) || fin != (data.Failures{}) {
		t.Errorf("alice from another IP sees active %+v, finished %+v; want alice's one active", act, fin)
	}
	if act, _ := look(c, false); act != (data.Failures{ByIP: 1}) {
		t.Errorf("bob from the same IP sees active %+v; want the IP's one active", act)
	}
	d := f.begin(flightKeys("alice", "192.0.2.1"))
	f.end(a, true)
	if act, fin := look(d, true); act != (data.Failures{}) || fin != (data.Failures{ByUserIP: 1, ByUser: 1, ByIP: 1}) {
		t.Errorf("after a's failure: active %+v, finished %+v; want a as finished on its three keys", act, fin)
	}
	// look asked to read again: the snapshot moved, a is no longer "since".
	if _, fin := look(d, false); fin != (data.Failures{}) {
		t.Errorf("after reading again: finished %+v, want none", fin)
	}
	// A success (or a refusal) does not count as finished.
	e := f.begin(flightKeys("alice", ""))
	admit(e)
	g := f.begin(flightKeys("alice", ""))
	f.end(e, false)
	if act, fin := look(g, false); act != (data.Failures{}) || fin != (data.Failures{}) {
		t.Errorf("after a success: active %+v, finished %+v; want none", act, fin)
	}
	for _, fl := range []*flight{b, c, d, g} {
		f.end(fl, true)
	}
	if len(f.keys) != 0 {
		t.Errorf("after every attempt ended, %d keys are still held: %v", len(f.keys), f.keys)
	}
}
