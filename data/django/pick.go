package django

import (
	"encoding/json"
)

// The index needs a dozen members of each session dict, not the dict: a
// million map[string]any, each with its strings and json.Numbers, was half
// of a cold build's decode. pick reads the serialized dict once, keeps the
// values of the members the sessions are built from and skips the others.
//
// It answers only where encoding/json would give the same answer: on any
// input it is not sure of (not an object, malformed, nested too deep) it
// says so, and the caller parses the whole dict with encoding/json, which
// then gives the row its exact value or error. FuzzPick holds the two to the
// same values.

// field is a member of the session dict that a Session is built from.
type field int

const (
	fUser field = iota
	fUserID
	fUserEmail
	fUserName
	fUserRole
	fUserStatus
	fLoginTime
	fLastActivity
	fIP
	fUserAgent
	fAuthUserID
	fSessionExpiry
	numFields
)

// fieldOf maps a dict key to its field (-1: not one the sessions read).
// It takes bytes, which a switch on string(k) compares without a copy.
func fieldOf(k []byte) field {
	switch string(k) {
	case keyUser:
		return fUser
	case keyUserID:
		return fUserID
	case keyUserEmail:
		return fUserEmail
	case keyUserName:
		return fUserName
	case keyUserRole:
		return fUserRole
	case keyUserStatus:
		return fUserStatus
	case keyLoginTime:
		return fLoginTime
	case keyLastActivity:
		return fLastActivity
	case keyIP:
		return fIP
	case keyUserAgent:
		return fUserAgent
	case keyAuthUserID:
		return fAuthUserID
	case keySessionExpiry:
		return fSessionExpiry
	}
	return -1
}

// fields are the picked members' values. The sessions read a member as a
// string or a number (str, intOf, timeOf): any other value (true, null, an
// object, ...) reads as absent, so it is kept as kindOther.
type fields [numFields]fval

type fval struct {
	kind valueKind
	s    string // the string's value, or the number's text (a json.Number)
}

type valueKind uint8

const (
	kindNone valueKind = iota // absent
	kindString
	kindNumber
	kindOther
)

// fieldsOf picks the fields out of a decoded dict.
func fieldsOf(dict map[string]any) *fields {
	var f fields
	for k, v := range dict {
		if i := fieldOf([]byte(k)); i >= 0 {
			switch x := v.(type) {
			case nil:
				f[i] = fval{}
			case string:
				f[i] = fval{kindString, x}
			case json.Number:
				f[i] = fval{kindNumber, string(x)}
			default:
				f[i] = fval{kind: kindOther}
			}
		}
	}
	return &f
}

// maxPickDepth bounds the nesting pick follows; deeper input goes to
// encoding/json (which allows 10000 levels).
const maxPickDepth = 64

// pick reads the fields of the JSON object at the start of js (what
// json.Decoder.Decode reads: leading white space, one value, anything after
// it ignored). ok is false when js is not an object pick is sure of.
func pick(js []byte) (f fields, ok bool) {
	p := picker{b: js}
	p.space()
	if !p.byte('{') {
		return f, false
	}
	p.space()
	if p.byte('}') {
		return f, true
	}
	for {
		p.space()
		ks, ke, esc := p.str()
		if ks < 0 {
			return f, false
		}
		p.space()
		if !p.byte(':') {
			return f, false
		}
		p.space()
		vs := p.i
		if !p.value(0) {
			return f, false
		}
		ve := p.i
		i := field(-1)
		if !esc {
			i = fieldOf(js[ks+1 : ke-1])
		} else if key, ok := unquote(js[ks:ke], true); !ok {
			return f, false
		} else {
			i = fieldOf([]byte(key))
		}
		if i >= 0 {
			// Duplicate keys: the last wins, as in encoding/json.
			var ok bool
			if f[i], ok = valueOf(js[vs:ve]); !ok {
				return f, false
			}
		}
		p.space()
		if p.byte('}') {
			return f, true
		}
		if !p.byte(',') {
			return f, false
		}
	}
}

type picker struct {
	b []byte
	i int
}

func (p *picker) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *picker) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string and returns where it starts and ends (quotes
// included) and whether it holds an escape or a byte outside printable
// ASCII; start -1 if it is not a valid JSON string.
func (p *picker) str() (start, end int, esc bool) {
	start = p.i
	if !p.byte('"') {
		return -1, 0, false
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return start, p.i, esc
		case c < 0x20:
			return -1, 0, false
		case c == '\\':
			esc = true
			p.i++
			if p.i >= len(p.b) {
				return -1, 0, false
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				p.i++
				for n := 0; n < 4; n++ {
					if p.i >= len(p.b) || !isHex(p.b[p.i]) {
						return -1, 0, false
					}
					p.i++
				}
			default:
				return -1, 0, false
			}
		case c >= 0x7f:
			esc = true // UTF-8, valid or not: encoding/json decides
			p.i++
		default:
			p.i++
		}
	}
	return -1, 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// value skips one valid JSON value.
func (p *picker) value(depth int) bool {
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, _, _ := p.str()
		return s >= 0
	case c == '{':
		if depth >= maxPickDepth {
			return false
		}
		p.i++
		p.space()
		if p.byte('}') {
			return true
		}
		for {
			p.space()
			if s, _, _ := p.str(); s < 0 {
				return false
			}
			p.space()
			if !p.byte(':') {
				return false
			}
			p.space()
			if !p.value(depth + 1) {
				return false
			}
			p.space()
			if p.byte('}') {
				return true
			}
			if !p.byte(',') {
				return false
			}
		}
	case c == '[':
		if depth >= maxPickDepth {
			return false
		}
		p.i++
		p.space()
		if p.byte(']') {
			return true
		}
		for {
			p.space()
			if !p.value(depth + 1) {
				return false
			}
			p.space()
			if p.byte(']') {
				return true
			}
			if !p.byte(',') {
				return false
			}
		}
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || isDigit(c):
		return p.number()
	}
	return false
}

func (p *picker) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// number skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *picker) number() bool {
	p.byte('-')
	switch {
	case p.byte('0'):
	case p.i < len(p.b) && isDigit(p.b[p.i]):
		for p.i < len(p.b) && isDigit(p.b[p.i]) {
			p.i++
		}
	default:
		return false
	}
	if p.byte('.') {
		if !p.digits() {
			return false
		}
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

func (p *picker) digits() bool {
	start := p.i
	for p.i < len(p.b) && isDigit(p.b[p.i]) {
		p.i++
	}
	return p.i > start
}

// unquote returns a string's value; q is the quoted text, already checked.
func unquote(q []byte, esc bool) (string, bool) {
	if !esc {
		return string(q[1 : len(q)-1]), true
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", false
	}
	return s, true
}

// valueOf reads a checked value's text as fieldsOf reads what encoding/json
// decodes it to.
func valueOf(v []byte) (fval, bool) {
	switch c := v[0]; {
	case c == '"':
		esc := false
		for _, b := range v[1 : len(v)-1] {
			if b == '\\' || b < 0x20 || b >= 0x7f {
				esc = true
				break
			}
		}
		s, ok := unquote(v, esc)
		return fval{kindString, s}, ok
	case c == 'n':
		return fval{}, true // null: as if absent (a nil any)
	case c == '-' || isDigit(c):
		return fval{kindNumber, string(v)}, true
	}
	return fval{kind: kindOther}, true
}
