package sessionlogic

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// tokenBytes is the entropy of a session token: 256 bits from crypto/rand,
// twice OWASP's 128-bit floor, so guessing is out of reach at any rate.
const tokenBytes = 32

// tokenLen is the length of an encoded token (unpadded base64url of tokenBytes).
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a fresh random session token, safe to put in a cookie.
func NewToken() string {
	b := make([]byte, tokenBytes)
	// crypto/rand.Read never returns an error on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the session ID for a token: the hex SHA-256 of it. Only
// this is stored, so a copy of the sessions table cannot be replayed as cookies.
// SHA-256 without salt is enough because tokens are 256 random bits, not
// guessable secrets like passwords.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	var h [2 * sha256.Size]byte // on the stack: one allocation, the string
	hex.Encode(h[:], sum[:])
	return string(h[:])
}

// wellFormed reports whether s could be a token this package minted. It
// rejects oversized, truncated and garbage cookies before any store work.
func wellFormed(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// ValidSessionID reports whether id has the shape of a session ID (64
// lower-case hex digits). Operator commands check it before asking the store.
func ValidSessionID(id string) bool {
	if len(id) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
