package sqlite

import (
	"context"
	"time"
)

// OpenWithCheckpointEvery is Open with the checkpointer looking at the WAL
// every d; 0 runs no checkpointer (SQLite's auto-checkpoint alone).
func OpenWithCheckpointEvery(ctx context.Context, path string, d time.Duration) (*Store, error) {
	return open(ctx, path, d)
}

// CheckpointerRunning reports whether the Store's checkpointer goroutine
// is running.
func (s *Store) CheckpointerRunning() bool {
	if s.ckpt == nil {
		return false
	}
	select {
	case <-s.ckpt.done:
		return false
	default:
		return true
	}
}
