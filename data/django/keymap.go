package django

// keyMap holds the index's entries by session key. Django's keys are 32
// characters, so they are stored inline as [32]byte (no string header, no
// separate allocation), and an entry holds no pointers: the garbage
// collector never scans the map, which at a million sessions is most of
// what the dashboard keeps. Keys of another length (a site with its own
// session key scheme) go to a plain map.
type keyMap struct {
	m32   map[[32]byte]entry
	other map[string]entry
}

func newKeyMap() keyMap {
	return keyMap{m32: map[[32]byte]entry{}, other: map[string]entry{}}
}

func (m keyMap) len() int { return len(m.m32) + len(m.other) }

func (m keyMap) get(k string) (entry, bool) {
	if len(k) == 32 {
		e, ok := m.m32[[32]byte([]byte(k))]
		return e, ok
	}
	e, ok := m.other[k]
	return e, ok
}

func (m keyMap) set(k string, e entry) {
	if len(k) == 32 {
		m.m32[[32]byte([]byte(k))] = e
		return
	}
	m.other[k] = e
}

func (m keyMap) del(k string) {
	if len(k) == 32 {
		delete(m.m32, [32]byte([]byte(k)))
		return
	}
	delete(m.other, k)
}

// each calls fn for every entry with its key as k32 (32-character keys)
// or k (others): keyString makes the string only when the caller needs it,
// so a walk over a million entries allocates nothing.
func (m keyMap) each(fn func(k32 [32]byte, k string, e entry)) {
	for k, e := range m.m32 {
		fn(k, "", e)
	}
	for k, e := range m.other {
		fn([32]byte{}, k, e)
	}
}

// keyString is the key each passed.
func keyString(k32 [32]byte, k string) string {
	if k != "" {
		return k
	}
	return string(k32[:])
}

// deleteIf removes the entries for which drop returns true.
func (m keyMap) deleteIf(drop func(e entry) bool) {
	for k, e := range m.m32 {
		if drop(e) {
			delete(m.m32, k)
		}
	}
	for k, e := range m.other {
		if drop(e) {
			delete(m.other, k)
		}
	}
}

// rewrite replaces every entry with fn's result.
func (m keyMap) rewrite(fn func(e entry) entry) {
	for k, e := range m.m32 {
		m.m32[k] = fn(e)
	}
	for k, e := range m.other {
		m.other[k] = fn(e)
	}
}
