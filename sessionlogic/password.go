package sessionlogic

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// maxPasswordBytes is bcrypt's input limit; longer passwords are refused at
// creation rather than silently truncated.
const maxPasswordBytes = 72

// minPasswordLen is the shortest password AddUser accepts.
const minPasswordLen = 8

func hashPassword(password string, cost int) (string, error) {
	if len(password) < minPasswordLen {
		return "", fmt.Errorf("%w: password must be at least %d characters", ErrInvalidInput, minPasswordLen)
	}
	if len(password) > maxPasswordBytes {
		return "", fmt.Errorf("%w: password must be at most %d bytes", ErrInvalidInput, maxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// checkPassword reports whether password matches hash. Any error (a
// malformed hash, an over-long password) counts as a mismatch.
func checkPassword(hash, password string) bool {
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false
	}
	return err == nil
}
