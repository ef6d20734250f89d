package data

import "context"

// WriteProber is implemented by stores that can show they take writes, not
// only reads. Ping proves a store answers; it does not prove that a login or
// a touch would commit: an SQLite file the process may not write, a full
// disk, or a PostgreSQL database with default_transaction_read_only=on all
// answer a ping while every write fails. The login server's /healthz asks
// both, so a load balancer takes such a replica out of rotation.
type WriteProber interface {
	// ProbeWrite commits one small write that grows nothing (it overwrites
	// the single row of the health_probe table) and returns its error,
	// wrapped with the operation's name. It is cheap but durable like any
	// commit: callers rate-limit it (the server runs it at most about once a
	// second, however often /healthz is asked).
	ProbeWrite(ctx context.Context) error
}
