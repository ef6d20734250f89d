package django

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// This file reads and writes Django's session_data exactly as Django 3.1+
// (django/core/signing.py, django/utils/crypto.py,
// django/contrib/sessions/backends/base.py) does:
//
//	signed (3.1+):  b64url(json)  or  "." + b64url(zlib(json))   then
//	                ":" + base62(unix seconds) + ":" + b64url(HMAC)
//	legacy (<3.1):  b64std(hexHMAC + ":" + json)
//
// The signed format's HMAC is salted_hmac(salt+"signer", value, SECRET_KEY)
// with salt "django.contrib.sessions.SessionStore": the HMAC key is
// H(salt+"signer"+SECRET_KEY), the message everything before the last ":",
// H SHA-256 (DEFAULT_HASHING_ALGORITHM) or SHA-1 (the legacy algorithm
// Django 3.1-3.2 still accept). The legacy format's HMAC is
// salted_hmac("django.contrib.sessionsSessionStore", json).hexdigest(),
// always SHA-1.
//
// Decoding needs no secret; verifying and encoding do.

// Salts Django uses for the db and cached_db engines: the key salt is
// "django.contrib.sessions." + the class's __qualname__ ("SessionStore"),
// the legacy hash's "django.contrib.sessions" + its __name__.
const (
	signedSalt = "django.contrib.sessions.SessionStore"
	legacySalt = "django.contrib.sessionsSessionStore"
)

// Errors of decoding. Test with errors.Is.
var (
	// ErrPickle: the row was written with the pickle serializer. sessionmon
	// never unpickles (unpickling runs code chosen by whoever wrote the row).
	ErrPickle = errors.New("session data is pickled (SESSION_SERIALIZER = PickleSerializer); sessionmon reads only JSON sessions and never unpickles")
	// ErrMalformed: not session data Django could have written.
	ErrMalformed = errors.New("not Django session data")
	// ErrTampered: the data does not carry a valid signature under any of
	// the keys given (SECRET_KEY and SECRET_KEY_FALLBACKS).
	ErrTampered = errors.New("signature does not match the site's SECRET_KEY")
)

// Format is how a row's session_data is encoded.
type Format int

const (
	// FormatSigned is Django 3.1+'s signing.dumps (TimestampSigner).
	FormatSigned Format = iota + 1
	// FormatLegacy is the pre-3.1 base64("hash:json") that 3.1-3.2 still read.
	FormatLegacy
)

func (f Format) String() string {
	switch f {
	case FormatSigned:
		return "signed"
	case FormatLegacy:
		return "legacy"
	}
	return "unknown"
}

// Algorithm is an HMAC hash Django signs with.
type Algorithm string

const (
	SHA256 Algorithm = "sha256"
	SHA1   Algorithm = "sha1"
)

func (a Algorithm) new() func() hash.Hash {
	if a == SHA1 {
		return sha1.New
	}
	return sha256.New
}

// Decoded is one session_data taken apart.
type Decoded struct {
	Format     Format
	Compressed bool
	// Signed is when Django signed it (FormatSigned only).
	Signed time.Time
	// JSON is the serialized session dict, as Django wrote it.
	JSON []byte
	// Dict is JSON parsed; numbers are json.Number. (Nil when decoded for
	// the index, which reads only fields.)
	Dict map[string]any
	// fields are the members Sessions are built from.
	fields *fields
	// signedPart is the part the signature covers, sig the signature
	// (FormatSigned); legacyHash the hex hash (FormatLegacy).
	signedPart, sig, legacyHash string
}

// Decode takes session_data apart without checking its signature (that
// needs the secret: see Keys.Verify). It returns ErrPickle for a pickled
// row and an error wrapping ErrMalformed for anything else it cannot read.
func Decode(sessionData string) (Decoded, error) {
	return decode(sessionData, true)
}

// decodeFields is Decode without the dict: only fields (and JSON), which
// is what the index needs, at a fraction of the cost. Its errors are
// Decode's.
func decodeFields(sessionData string) (Decoded, error) {
	return decode(sessionData, false)
}

func decode(sessionData string, dict bool) (Decoded, error) {
	if strings.Count(sessionData, ":") >= 2 {
		d, err := decodeSigned(sessionData, dict)
		if err == nil || errors.Is(err, ErrPickle) {
			return d, err
		}
		// Django falls back to the legacy decoder on any failure; so do we.
		if ld, lerr := decodeLegacy(sessionData, dict); lerr == nil || errors.Is(lerr, ErrPickle) {
			return ld, lerr
		}
		return Decoded{}, err
	}
	return decodeLegacy(sessionData, dict)
}

func decodeSigned(s string, dict bool) (Decoded, error) {
	i := strings.LastIndexByte(s, ':')
	signedPart, sig := s[:i], s[i+1:]
	j := strings.LastIndexByte(signedPart, ':')
	payload, ts := signedPart[:j], signedPart[j+1:]
	secs, err := base62Decode(ts)
	if err != nil {
		return Decoded{}, fmt.Errorf("%w: timestamp %q: %v", ErrMalformed, ts, err)
	}
	d := Decoded{Format: FormatSigned, Signed: time.Unix(secs, 0).UTC(), signedPart: signedPart, sig: sig}
	if strings.HasPrefix(payload, ".") {
		d.Compressed = true
		payload = payload[1:]
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return Decoded{}, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	if d.Compressed {
		if raw, err = inflate(raw); err != nil {
			return Decoded{}, err
		}
	}
	if err := d.parse(raw, dict); err != nil {
		return Decoded{}, err
	}
	return d, nil
}

// Inflaters and deflaters are pooled: each holds tens (inflate) or
// hundreds (deflate) of kilobytes of state, which would otherwise be
// allocated per row.
var (
	inflaters sync.Pool // *inflater
	deflaters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}
)

// inflater is a zlib reader with the readers it reads through, reused
// whole.
type inflater struct {
	src bytes.Reader
	zr  io.ReadCloser // also a zlib.Resetter
	lim io.LimitedReader
}

// inflate decompresses a zlib stream, bounded (a zip bomb is refused).
func inflate(raw []byte) ([]byte, error) {
	z, _ := inflaters.Get().(*inflater)
	if z == nil {
		z = &inflater{}
	}
	defer inflaters.Put(z)
	z.src.Reset(raw)
	var err error
	if z.zr == nil {
		z.zr, err = zlib.NewReader(&z.src)
	} else {
		err = z.zr.(zlib.Resetter).Reset(&z.src, nil)
	}
	if err != nil {
		z.zr = nil // a failed NewReader returns nil; start afresh next time
		return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
	}
	z.lim = io.LimitedReader{R: z.zr, N: maxJSON + 1}
	var out bytes.Buffer
	out.Grow(4 * len(raw))
	n, err := out.ReadFrom(&z.lim)
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
	}
	if n > maxJSON {
		return nil, fmt.Errorf("%w: more than %d bytes of session data", ErrMalformed, maxJSON)
	}
	return out.Bytes(), nil
}

// maxJSON bounds a decompressed session dict (Django's own sessions are a
// few hundred bytes).
const maxJSON = 1 << 20

func decodeLegacy(s string, dict bool) (Decoded, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return Decoded{}, fmt.Errorf("%w: neither signed nor legacy base64: %v", ErrMalformed, err)
	}
	i := bytes.IndexByte(raw, ':')
	if i < 0 {
		return Decoded{}, fmt.Errorf("%w: legacy data without \"hash:\"", ErrMalformed)
	}
	d := Decoded{Format: FormatLegacy, legacyHash: string(raw[:i])}
	if err := d.parse(raw[i+1:], dict); err != nil {
		return Decoded{}, err
	}
	return d, nil
}

// parse reads the serialized dict (only its fields, unless dict). Pickle
// protocol 2+ starts with 0x80 (PROTO); Django pickles with the highest
// protocol.
func (d *Decoded) parse(raw []byte, dict bool) error {
	if len(raw) > 0 && raw[0] == 0x80 {
		return ErrPickle
	}
	if !dict {
		if f, ok := pick(raw); ok {
			d.JSON, d.fields = raw, &f
			return nil
		}
		// Not a dict pick is sure of: encoding/json says what it is.
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("%w: JSON: %v", ErrMalformed, err)
	}
	if m == nil {
		return fmt.Errorf("%w: JSON is not an object", ErrMalformed)
	}
	d.JSON, d.Dict, d.fields = raw, m, fieldsOf(m)
	return nil
}

// Keys are the site's signing secrets: SECRET_KEY first, then
// SECRET_KEY_FALLBACKS (Django 4.1+), all of which Django accepts when it
// reads a session. The zero Keys can decode but not verify or sign.
type Keys struct {
	secrets [][]byte
	// macs[i] holds secret i's HMACs, keyed once: salted_hmac derives the
	// HMAC key from the salt and the secret alone, so deriving it (and the
	// HMAC's padded key blocks) per row was most of a verify.
	macs []secretMACs
}

// secretMACs are one secret's HMACs: the signed format's under SHA-256 and
// SHA-1, the legacy format's (SHA-1, its own salt).
type secretMACs struct {
	signed256, signed1, legacy *macPool
}

// NewKeys returns Keys for secret and its fallbacks. Empty values are
// ignored; with none at all the Keys cannot verify.
func NewKeys(secret string, fallbacks ...string) Keys {
	var k Keys
	for _, s := range append([]string{secret}, fallbacks...) {
		if s != "" {
			b := []byte(s)
			k.secrets = append(k.secrets, b)
			k.macs = append(k.macs, secretMACs{
				signed256: newMACPool(SHA256, signedSalt+"signer", b),
				signed1:   newMACPool(SHA1, signedSalt+"signer", b),
				legacy:    newMACPool(SHA1, legacySalt, b),
			})
		}
	}
	return k
}

// macPool hands out HMACs under one derived key. An HMAC is not safe for
// concurrent use and the index verifies on every core, hence the pool; its
// Reset restores the keyed state without rehashing the key.
type macPool struct{ p sync.Pool }

// newMACPool keys the HMACs as django.utils.crypto.salted_hmac does: the
// HMAC key is H(keySalt + secret).
func newMACPool(alg Algorithm, keySalt string, secret []byte) *macPool {
	h := alg.new()
	kh := h()
	kh.Write([]byte(keySalt))
	kh.Write(secret)
	key := kh.Sum(nil)
	mp := &macPool{}
	mp.p.New = func() any { return hmac.New(h, key) }
	return mp
}

// sum appends the HMAC of value to dst.
func (mp *macPool) sum(dst []byte, value []byte) []byte {
	m := mp.p.Get().(hash.Hash)
	m.Reset()
	m.Write(value)
	dst = m.Sum(dst)
	mp.p.Put(m)
	return dst
}

func (sm secretMACs) signedPool(alg Algorithm) *macPool {
	if alg == SHA1 {
		return sm.signed1
	}
	return sm.signed256
}

// Usable reports whether the Keys hold any secret.
func (k Keys) Usable() bool { return len(k.secrets) > 0 }

// String never shows a secret.
func (k Keys) String() string { return fmt.Sprintf("django.Keys(%d secrets)", len(k.secrets)) }

// GoString never shows a secret (%#v).
func (k Keys) GoString() string { return k.String() }

// Verified says how a row's signature checked out.
type Verified struct {
	Algorithm Algorithm // the hash that matched
	KeyIndex  int       // 0 = SECRET_KEY, 1.. = SECRET_KEY_FALLBACKS
}

// Verify checks d's signature with each key (and, for the signed format,
// with SHA-256 then SHA-1, as Django 3.1-3.2 do). ErrTampered when none
// matches.
func (k Keys) Verify(d Decoded) (Verified, error) {
	if !k.Usable() {
		return Verified{}, errors.New("verify session data: no SECRET_KEY given")
	}
	// The MAC and its text form are built in these arrays: a verify
	// allocates nothing but the signed part's bytes.
	var mac [sha256.Size]byte
	var text [43]byte // base64 of a SHA-256 (43), or hex of a SHA-1 (40)
	var signed []byte
	if d.Format == FormatSigned {
		signed = []byte(d.signedPart)
	}
	for i, sm := range k.macs {
		switch d.Format {
		case FormatSigned:
			for _, alg := range []Algorithm{SHA256, SHA1} {
				// Django compares the signature's text (constant_time_compare
				// of the base64), so a differently padded or encoded
				// signature that decodes to the same bytes is still refused.
				sum := sm.signedPool(alg).sum(mac[:0], signed)
				want := text[:base64.RawURLEncoding.EncodedLen(len(sum))]
				base64.RawURLEncoding.Encode(want, sum)
				if equal(want, d.sig) {
					return Verified{Algorithm: alg, KeyIndex: i}, nil
				}
			}
		case FormatLegacy:
			sum := sm.legacy.sum(mac[:0], d.JSON)
			want := text[:hex.EncodedLen(len(sum))]
			hex.Encode(want, sum)
			if equal(want, d.legacyHash) {
				return Verified{Algorithm: SHA1, KeyIndex: i}, nil
			}
		}
	}
	return Verified{}, ErrTampered
}

// equal compares a computed signature with a row's in constant time (as
// subtle.ConstantTimeCompare, without copying the row's to bytes).
func equal(want []byte, got string) bool {
	if len(want) != len(got) {
		return false
	}
	var v byte
	for i := range want {
		v |= want[i] ^ got[i]
	}
	return subtle.ConstantTimeByteEq(v, 0) == 1
}

// EncodeOptions say how Encode writes a row.
type EncodeOptions struct {
	Format    Format    // zero: FormatSigned
	Algorithm Algorithm // FormatSigned only; zero: SHA256
	Now       time.Time // the signing timestamp; zero: time.Now()
}

// Encode writes serialized (a session dict as compact JSON) as Django's
// SessionStore.encode does, signed with the first key (SECRET_KEY):
// signing.dumps(..., compress=True) for FormatSigned, _legacy_encode for
// FormatLegacy.
func (k Keys) Encode(serialized []byte, o EncodeOptions) (string, error) {
	if !k.Usable() {
		return "", errors.New("encode session data: no SECRET_KEY given")
	}
	sm := k.macs[0]
	if o.Format == FormatLegacy {
		h := hex.EncodeToString(sm.legacy.sum(nil, serialized))
		return base64.StdEncoding.EncodeToString(append([]byte(h+":"), serialized...)), nil
	}
	alg := o.Algorithm
	if alg == "" {
		alg = SHA256
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	data, compressed := serialized, false
	var buf bytes.Buffer
	zw := deflaters.Get().(*zlib.Writer)
	zw.Reset(&buf)
	zw.Write(serialized)
	zw.Close()
	deflaters.Put(zw)
	if buf.Len() < len(serialized)-1 { // Django's test: only when it saves space
		data, compressed = buf.Bytes(), true
	}
	b64 := base64.RawURLEncoding.EncodeToString(data)
	if compressed {
		b64 = "." + b64
	}
	value := b64 + ":" + base62Encode(now.Unix())
	return value + ":" + base64.RawURLEncoding.EncodeToString(sm.signedPool(alg).sum(nil, []byte(value))), nil
}

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func base62Encode(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b []byte
	for n > 0 {
		b = append(b, base62Alphabet[n%62])
		n /= 62
	}
	if neg {
		b = append(b, '-')
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func base62Decode(s string) (int64, error) {
	if s == "" || len(s) > 11 {
		return 0, errors.New("bad base62 length")
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var n int64
	for i := 0; i < len(s); i++ {
		v := strings.IndexByte(base62Alphabet, s[i])
		if v < 0 {
			return 0, fmt.Errorf("bad base62 digit %q", s[i])
		}
		n = n*62 + int64(v)
	}
	if neg {
		n = -n
	}
	return n, nil
}

// SetKey returns the serialized dict js (a JSON object) with key set to
// the JSON value val, keeping every other member and the members' order
// byte for byte, appending key when it is new. It writes as Python's
// json.dumps(separators=(',', ':')) does, so a re-signed row reads back in
// Django as the same dict.
func SetKey(js []byte, key string, val json.RawMessage) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: JSON is not an object", ErrMalformed)
	}
	var out bytes.Buffer
	out.WriteByte('{')
	n, set := 0, false
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: JSON: %v", ErrMalformed, err)
		}
		k, _ := kt.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: JSON: %v", ErrMalformed, err)
		}
		if k == key {
			raw, set = val, true
		}
		if n > 0 {
			out.WriteByte(',')
		}
		out.WriteString(PyQuote(k))
		out.WriteByte(':')
		if err := json.Compact(&out, raw); err != nil {
			return nil, fmt.Errorf("%w: JSON: %v", ErrMalformed, err)
		}
		n++
	}
	if !set {
		if n > 0 {
			out.WriteByte(',')
		}
		out.WriteString(PyQuote(key))
		out.WriteByte(':')
		out.Write(val)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// PyQuote quotes s as Python's json.dumps does with ensure_ascii (its
// default): non-ASCII as \uXXXX (surrogate pairs beyond the BMP), and only
// the escapes Python uses.
func PyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// PyDumps serialises an ordered list of members as Django's JSONSerializer
// does (json.dumps(obj, separators=(',', ':'))). Values are strings,
// integers, bools or nil. For seeding and tests; the source never needs it
// to read a row.
func PyDumps(members ...Member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(PyQuote(m.Key))
		b.WriteByte(':')
		switch v := m.Value.(type) {
		case string:
			b.WriteString(PyQuote(v))
		case nil:
			b.WriteString("null")
		case bool:
			if v {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		default:
			fmt.Fprint(&b, v)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Member is one key of a session dict, in order.
type Member struct {
	Key   string
	Value any
}
