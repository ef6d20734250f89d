//go:build !unix

package sqlite

import "errors"

// ErrNotWritable: see writable.go. Off Unix, SQLite's own error stands.
var ErrNotWritable = errors.New("not writable")

func checkWritable(string) error { return nil }
