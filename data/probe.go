package data

import "context"

// WriteProber is implemented by stores that can show they take writes, not
// only reads. Ping proves a store answers; it does not prove that a login or
// a touch would commit: an SQLite file the process may not write, a full
// disk, or a PostgreSQL database with default_transaction_read_only=on all
// answer a ping while every write fails. The login server's /healthz asks
// both, so a load balancer takes such a replica out of rotation.
type WriteProber interface {
	// ProbeWrite makes the store do what a write needs, growing nothing,
	// and returns its error wrapped with the operation's name. SQLite
	// commits an overwrite of the one row of health_probe (a read-only
	// file or a full disk shows only at commit); PostgreSQL runs an UPDATE
	// of sessions that matches no row, which its read-only and privilege
	// checks still refuse, and writes nothing. Callers rate-limit it (the
	// server runs it about once a second, however often /healthz is asked).
	ProbeWrite(ctx context.Context) error
}
