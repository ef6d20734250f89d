package backend

import (
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ConnectError is a failed connection to a PostgreSQL store, said in one
// line with the cause first: "password authentication failed for user
// "app" (SQLSTATE 28P01), connecting to postgres app@db:5432/sessions".
//
// pgx reports every attempt it made, one per line: under the default
// sslmode=prefer it tries TLS first, so a server without TLS leads with
// "tls error: server refused TLS connection" and the real cause (the
// server's refusal on the plain attempt) comes last. The cause chosen is
// the server's own answer when any attempt got one (a wrong password, a
// missing database), else the last attempt's network error.
//
// Unwrap returns pgx's error, so errors.As still finds the
// *pgconn.PgError and errors.Is the context's error.
type ConnectError struct {
	Store string // Describe() of the store: user, host, port, database; no password
	Cause string // one line
	err   error
}

func (e *ConnectError) Error() string {
	return e.Cause + ", connecting to " + e.Store
}

func (e *ConnectError) Unwrap() error { return e.err }

// connectError turns err into a ConnectError when it is a failed
// connection, and returns it unchanged otherwise.
func connectError(store string, err error) error {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return err
	}
	attempts := leaves(ce.Unwrap())
	if len(attempts) == 0 {
		return err
	}
	chosen := attempts[len(attempts)-1]
	for _, a := range attempts {
		var pe *pgconn.PgError
		if errors.As(a, &pe) {
			chosen = a
			break
		}
	}
	return &ConnectError{Store: store, Cause: cause(chosen), err: err}
}

// leaves flattens errors.Join trees: pgx joins one error per attempt.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}

// cause is one attempt's error in one line, innermost first: the server's
// message, or the network error (which names the address), or pgx's text.
func cause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message + " (SQLSTATE " + pe.Code + ")"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Error()
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
