package django

import (
	"encoding/binary"
	"unsafe"
)

// The index interns the users and clients its sessions name (a quarter of
// a million users at a million sessions). As Go structs of strings they
// cost 150 bytes a user and 100 a client (five string headers, five small
// allocations); here a user is an id and an offset, and its strings sit
// back to back in an append-only arena of 1 MiB chunks, read back as
// strings that point into it (never copied, never changed once written),
// which the garbage collector never scans. User agents, the same few for
// most clients, are interned once each.

const (
	arenaChunkBits = 20
	arenaChunk     = 1 << arenaChunkBits
)

// arena holds length-prefixed strings; a reference is chunk<<20 | offset.
// A record larger than a chunk gets a chunk of its own.
type arena struct {
	chunks [][]byte
}

func (a *arena) reserve(n int) ([]byte, uint32) {
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+n > cap(a.chunks[last]) {
		a.chunks = append(a.chunks, make([]byte, 0, max(arenaChunk, n)))
		last++
	}
	c := a.chunks[last]
	ref := uint32(last)<<arenaChunkBits | uint32(len(c))
	a.chunks[last] = c[:len(c)+n]
	return a.chunks[last][len(c):], ref
}

// put appends strings as one record.
func (a *arena) put(ss ...string) uint32 {
	n := 0
	for _, s := range ss {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	b, ref := a.reserve(n)
	i := 0
	for _, s := range ss {
		i += binary.PutUvarint(b[i:], uint64(len(s)))
		i += copy(b[i:], s)
	}
	return ref
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// get reads the record at ref into dst (len(dst) strings).
func (a *arena) get(ref uint32, dst []string) {
	b := a.chunks[ref>>arenaChunkBits][ref&(arenaChunk-1):]
	for i := range dst {
		n, w := binary.Uvarint(b)
		b = b[w:]
		if n == 0 {
			dst[i] = ""
		} else {
			dst[i] = unsafe.String(&b[0], int(n)) // immutable once written
		}
		b = b[n:]
	}
}

// userTable holds the interned users, numbered from 0.
type userTable struct {
	ids  []int64
	refs []uint32
	a    arena
}

func (t *userTable) len() int { return len(t.ids) }

func (t *userTable) add(u userInfo) uint32 {
	t.ids = append(t.ids, u.id)
	t.refs = append(t.refs, t.a.put(u.username, u.email, u.fullName, u.role, u.status))
	return uint32(len(t.ids) - 1)
}

func (t *userTable) at(i uint32) userInfo {
	var f [5]string
	t.a.get(t.refs[i], f[:])
	return userInfo{id: t.ids[i], username: f[0], email: f[1], fullName: f[2], role: f[3], status: f[4]}
}

func (t *userTable) name(i uint32) string {
	var f [1]string
	t.a.get(t.refs[i], f[:])
	return f[0]
}

func (t *userTable) role(i uint32) string {
	var f [4]string
	t.a.get(t.refs[i], f[:])
	return f[3]
}

// clientTable holds the interned clients: an IP in the arena and a user
// agent interned apart.
type clientTable struct {
	ips   []uint32
	uas   []uint32
	uaStr []string
	uaIdx map[string]uint32
	a     arena
}

func (t *clientTable) len() int { return len(t.ips) }

func (t *clientTable) add(c client) uint32 {
	if t.uaIdx == nil {
		t.uaIdx = map[string]uint32{}
	}
	ua, ok := t.uaIdx[c.ua]
	if !ok {
		ua = uint32(len(t.uaStr))
		t.uaStr = append(t.uaStr, c.ua)
		t.uaIdx[c.ua] = ua
	}
	t.ips = append(t.ips, t.a.put(c.ip))
	t.uas = append(t.uas, ua)
	return uint32(len(t.ips) - 1)
}

func (t *clientTable) at(i uint32) client {
	var f [1]string
	t.a.get(t.ips[i], f[:])
	return client{ip: f[0], ua: t.uaStr[t.uas[i]]}
}
