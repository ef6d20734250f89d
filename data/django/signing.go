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
	// Dict is JSON parsed; numbers are json.Number.
	Dict map[string]any
	// signedPart is the part the signature covers, sig the signature
	// (FormatSigned); legacyHash the hex hash (FormatLegacy).
	signedPart, sig, legacyHash string
}

// Decode takes session_data apart without checking its signature (that
// needs the secret: see Keys.Verify). It returns ErrPickle for a pickled
// row and an error wrapping ErrMalformed for anything else it cannot read.
func Decode(sessionData string) (Decoded, error) {
	if strings.Count(sessionData, ":") >= 2 {
		d, err := decodeSigned(sessionData)
		if err == nil || errors.Is(err, ErrPickle) {
			return d, err
		}
		// Django falls back to the legacy decoder on any failure; so do we.
		if ld, lerr := decodeLegacy(sessionData); lerr == nil || errors.Is(lerr, ErrPickle) {
			return ld, lerr
		}
		return Decoded{}, err
	}
	return decodeLegacy(sessionData)
}

func decodeSigned(s string) (Decoded, error) {
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
	if err := d.parse(raw); err != nil {
		return Decoded{}, err
	}
	return d, nil
}

// Inflaters and deflaters are pooled: each holds tens (inflate) or
// hundreds (deflate) of kilobytes of state, which would otherwise be
// allocated per row.
var (
	inflaters sync.Pool // io.ReadCloser that is also a zlib.Resetter
	deflaters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}
)

// inflate decompresses a zlib stream, bounded (a zip bomb is refused).
func inflate(raw []byte) ([]byte, error) {
	var zr io.ReadCloser
	if v := inflaters.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(bytes.NewReader(raw), nil); err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
		}
	} else {
		var err error
		if zr, err = zlib.NewReader(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
		}
	}
	defer inflaters.Put(zr)
	var out bytes.Buffer
	out.Grow(4 * len(raw))
	n, err := out.ReadFrom(io.LimitReader(zr, maxJSON+1))
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

func decodeLegacy(s string) (Decoded, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return Decoded{}, fmt.Errorf("%w: neither signed nor legacy base64: %v", ErrMalformed, err)
	}
	i := bytes.IndexByte(raw, ':')
	if i < 0 {
		return Decoded{}, fmt.Errorf("%w: legacy data without \"hash:\"", ErrMalformed)
	}
	d := Decoded{Format: FormatLegacy, legacyHash: string(raw[:i])}
	if err := d.parse(raw[i+1:]); err != nil {
		return Decoded{}, err
	}
	return d, nil
}

// parse reads the serialized dict. Pickle protocol 2+ starts with 0x80
// (PROTO); Django pickles with the highest protocol.
func (d *Decoded) parse(raw []byte) error {
	if len(raw) > 0 && raw[0] == 0x80 {
		return ErrPickle
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
	d.JSON, d.Dict = raw, m
	return nil
}

// Keys are the site's signing secrets: SECRET_KEY first, then
// SECRET_KEY_FALLBACKS (Django 4.1+), all of which Django accepts when it
// reads a session. The zero Keys can decode but not verify or sign.
type Keys struct {
	secrets [][]byte
}

// NewKeys returns Keys for secret and its fallbacks. Empty values are
// ignored; with none at all the Keys cannot verify.
func NewKeys(secret string, fallbacks ...string) Keys {
	var k Keys
	for _, s := range append([]string{secret}, fallbacks...) {
		if s != "" {
			k.secrets = append(k.secrets, []byte(s))
		}
	}
	return k
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
	for i, secret := range k.secrets {
		switch d.Format {
		case FormatSigned:
			for _, alg := range []Algorithm{SHA256, SHA1} {
				want := signature(alg, signedSalt+"signer", d.signedPart, secret)
				if subtle.ConstantTimeCompare([]byte(want), []byte(d.sig)) == 1 {
					return Verified{Algorithm: alg, KeyIndex: i}, nil
				}
			}
		case FormatLegacy:
			want := hex.EncodeToString(saltedHMAC(SHA1, legacySalt, d.JSON, secret))
			if subtle.ConstantTimeCompare([]byte(want), []byte(d.legacyHash)) == 1 {
				return Verified{Algorithm: SHA1, KeyIndex: i}, nil
			}
		}
	}
	return Verified{}, ErrTampered
}

// saltedHMAC is django.utils.crypto.salted_hmac: the HMAC key is
// H(keySalt + secret).
func saltedHMAC(alg Algorithm, keySalt string, value, secret []byte) []byte {
	h := alg.new()
	kh := h()
	kh.Write([]byte(keySalt))
	kh.Write(secret)
	m := hmac.New(h, kh.Sum(nil))
	m.Write(value)
	return m.Sum(nil)
}

// signature is Signer.signature: unpadded URL-safe base64 of salted_hmac.
func signature(alg Algorithm, keySalt, value string, secret []byte) string {
	return base64.RawURLEncoding.EncodeToString(saltedHMAC(alg, keySalt, []byte(value), secret))
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
	secret := k.secrets[0]
	if o.Format == FormatLegacy {
		h := hex.EncodeToString(saltedHMAC(SHA1, legacySalt, serialized, secret))
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
	return value + ":" + signature(alg, signedSalt+"signer", value, secret), nil
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
