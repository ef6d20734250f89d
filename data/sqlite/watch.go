package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"sessionmon/data"
)

var _ data.Watcher = (*Store)(nil)

// ErrClosed is returned by Watch when the Store is closed (before or while
// it watches).
var ErrClosed = errors.New("store is closed")

// Watch calls notify after every committed login, end and extend made
// through this Store value, until ctx is done; it then returns ctx.Err().
// It calls notify once at the start, as PostgreSQL's Watch does after each
// connect. When the Store is closed it returns ErrClosed.
//
// Only this process is heard. The notices come from the Store's own write
// methods, not from SQLite, so a commit made by another process on the same
// file (a separate `serve`, `sessions purge`, the sqlite3 shell) sends no
// notice: a dashboard in another process learns of it by polling, which
// data.Watcher requires of every caller anyway. `demo` runs the server, the
// simulator and the dashboard on one Store, so there every change is pushed.
//
// Writers never wait for watchers: each watcher has a pending flag (a
// channel of one) that a commit sets without blocking, so a burst of commits
// while notify runs becomes one more call. notify runs on the caller's
// goroutine, one call at a time. Touch, Purge and user changes that end no
// session do not notify.
func (s *Store) Watch(ctx context.Context, notify func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pending, ok := s.notices.subscribe()
	if !ok {
		return fmt.Errorf("sqlite: watch: %w", ErrClosed)
	}
	defer s.notices.unsubscribe(pending)
	notify()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.notices.closed:
			return fmt.Errorf("sqlite: watch: %w", ErrClosed)
		case <-pending:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			notify()
		}
	}
}

// notifier fans change notices out to the watchers of one Store.
type notifier struct {
	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	closed chan struct{} // closed by close: every Watch returns
}

func newNotifier() *notifier {
	return &notifier{subs: map[chan struct{}]struct{}{}, closed: make(chan struct{})}
}

// subscribe registers a watcher: false once the store is closed.
func (n *notifier) subscribe() (chan struct{}, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.isClosed() {
		return nil, false
	}
	ch := make(chan struct{}, 1)
	n.subs[ch] = struct{}{}
	return ch, true
}

func (n *notifier) unsubscribe(ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.subs, ch)
}

// changed tells every watcher that sessions changed. It never blocks: a
// watcher that already has a notice pending keeps that one.
func (n *notifier) changed() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// close ends every Watch and refuses new ones. Safe to call twice.
func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.isClosed() {
		close(n.closed)
	}
}

// isClosed reports whether close has run (n.mu held).
func (n *notifier) isClosed() bool {
	select {
	case <-n.closed:
		return true
	default:
		return false
	}
}
