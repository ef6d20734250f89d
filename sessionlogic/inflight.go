package sessionlogic

import (
	"sync"

	"sessionmon/data"
)

// inflight closes the throttle's gap between reading the failure counts and
// recording a failure. The store counts only failures already recorded, and
// a password check (bcrypt, tens of milliseconds at the default cost) runs
// between the two: without this, a burst of concurrent attempts would all
// read the same count below the limit, and at the default cost 50 concurrent
// wrong passwords from one IP were all checked against a limit of 5.
//
// So each process also counts, per throttle key (the username from the IP,
// the username, the IP), the attempts it admitted that have not finished
// (active), and how many of those finished since an attempt read the store
// (done, a counter the attempt snapshots before its read: their failures may
// have been recorded too late for that read). An attempt is admitted only if
// recorded + active + finished-since-its-read stays below each limit, checked
// and counted under one lock, so within a process the limits hold under any
// concurrency; across replicas each may admit its own burst up to the limit.
// Only admitted attempts count: a flood that is refused adds nothing, so it
// cannot lock anyone out by its volume. Entries live only while an attempt
// holds them, so memory is bounded by the requests in flight.
//
// An attempt over a limit only with attempts still active (admitted,
// checking a password) waits for one of them to end (ended) and reads
// again, rather than being refused: those may well succeed, and twenty
// good logins at once from one address (an office behind NAT) are not an
// attack. A burst of wrong passwords is refused all the same, by the
// failures it records.
type inflight struct {
	mu    sync.Mutex
	keys  map[flightKey]*flightEntry
	ended chan struct{} // closed (and dropped) when an admitted attempt ends
}

type flightKey struct {
	kind     byte // 'p' username from IP, 'u' username, 'i' IP
	user, ip string
}

type flightEntry struct {
	active int    // admitted attempts not yet finished
	done   uint64 // admitted attempts finished, ever (while the entry lives)
	refs   int    // attempts holding the entry
}

// flight is one attempt's hold on its keys, from before its store read to
// its end.
type flight struct {
	keys     []flightKey
	snap     []uint64 // each key's done at begin
	admitted bool
}

// plus sums the counts of a and b (no ClearsAt).
func plus(a, b data.Failures) data.Failures {
	return data.Failures{ByUserIP: a.ByUserIP + b.ByUserIP, ByUser: a.ByUser + b.ByUser, ByIP: a.ByIP + b.ByIP}
}

// add adds n to the count of f that a key of kind counts.
func add(f *data.Failures, kind byte, n int64) {
	switch kind {
	case 'p':
		f.ByUserIP += n
	case 'u':
		f.ByUser += n
	case 'i':
		f.ByIP += n
	}
}

// flightKeys are the throttle keys of a login: the pair and the IP only
// when there is an IP (the stores count neither without one).
func flightKeys(username, ip string) []flightKey {
	if ip == "" {
		return []flightKey{{kind: 'u', user: username}}
	}
	return []flightKey{{kind: 'p', user: username, ip: ip}, {kind: 'u', user: username}, {kind: 'i', ip: ip}}
}

// begin holds keys and snapshots their finished counts. Call it before
// reading the failure counts, and end the flight whatever happens.
func (f *inflight) begin(keys []flightKey) *flight {
	fl := &flight{keys: keys, snap: make([]uint64, len(keys))}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[flightKey]*flightEntry{}
	}
	for i, k := range keys {
		e := f.keys[k]
		if e == nil {
			e = &flightEntry{}
			f.keys[k] = e
		}
		e.refs++
		fl.snap[i] = e.done
	}
	return fl
}

// admit tells decide how many attempts beyond the recorded failures may
// still turn into failures, per count: those admitted and still active, and
// those finished since this flight's read began (whose failures that read
// may or may not have seen). When decide admits, the flight counts as
// active on every key. When it asks to check again, the flight's snapshot
// moves to now, so that a new read sees every failure finished before it.
// ended closes when an admitted attempt next ends (taken under the same
// lock as the counts, so no end between the two is missed).
func (f *inflight) admit(fl *flight, decide func(active, finished data.Failures) (admit, again bool)) (admitted, again bool, ended <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended == nil {
		f.ended = make(chan struct{})
	}
	ended = f.ended
	var active, finished data.Failures
	for i, k := range fl.keys {
		e := f.keys[k]
		add(&active, k.kind, int64(e.active))
		add(&finished, k.kind, int64(e.done-fl.snap[i]))
	}
	admitted, again = decide(active, finished)
	switch {
	case admitted:
		for _, k := range fl.keys {
			f.keys[k].active++
		}
		fl.admitted = true
	case again:
		for i, k := range fl.keys {
			fl.snap[i] = f.keys[k].done
		}
	}
	return admitted, again, ended
}

// end releases the flight's keys; an admitted flight counts as finished
// when it may have recorded a failure.
func (f *inflight) end(fl *flight, mayHaveFailed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl.admitted && f.ended != nil {
		close(f.ended)
		f.ended = nil
	}
	for _, k := range fl.keys {
		e := f.keys[k]
		if fl.admitted {
			e.active--
			if mayHaveFailed {
				e.done++
			}
		}
		if e.refs--; e.refs == 0 {
			delete(f.keys, k)
		}
	}
}
