package django

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"sessionmon/data"
)

// keyPage is a page of (session_key, expire_date) pairs: all that a full
// sync's pass and an incremental refresh compare with the index. One page
// is reused from statement to statement and row to row. Read as []row, a
// pass allocated ~270 bytes a row on PostgreSQL and ~480 on SQLite (the
// driver's strings and boxed times, fresh slices of rows): 270 MB of
// garbage each full sync of a 1M-row site, every ten times its duration,
// which the dashboard's RSS showed as bumps of 8-15 MB above its steady
// state.
type keyPage struct {
	keys   []byte  // the keys, end to end
	ends   []int   // where each key ends in keys
	expire []int64 // expire_date, Unix microseconds
}

func newKeyPage(rows int) *keyPage {
	return &keyPage{keys: make([]byte, 0, 32*rows), ends: make([]int, 0, rows), expire: make([]int64, 0, rows)}
}

func (p *keyPage) reset() {
	p.keys, p.ends, p.expire = p.keys[:0], p.ends[:0], p.expire[:0]
}

func (p *keyPage) add(key []byte, expire int64) {
	p.keys = append(p.keys, key...)
	p.ends = append(p.ends, len(p.keys))
	p.expire = append(p.expire, expire)
}

func (p *keyPage) len() int { return len(p.ends) }

// key is the i-th key, valid until the page is reset.
func (p *keyPage) key(i int) []byte {
	from := 0
	if i > 0 {
		from = p.ends[i-1]
	}
	return p.keys[from:p.ends[i]]
}

// eachKeyPage runs one statement that selects (session_key, expire_date)
// and hands its rows to fn in p, a page at a time of at most size rows. fn
// must not keep the page. It returns how many rows the statement gave.
//
// On PostgreSQL it reads the rows as pgx receives them (the raw column
// bytes, the timestamp decoded in place), one statement streamed however
// long; database/sql would make a string of every key and box every time.
// On SQLite the statement must bound itself (LIMIT): a long read holds the
// shared lock that a site on a rollback journal needs to commit. Its rows
// come in one page, however many.
func (s *Source) eachKeyPage(ctx context.Context, p *keyPage, size int, fn func(*keyPage) error, query string, args ...any) (int, error) {
	p.reset()
	n := 0
	flush := func() error {
		if p.len() == 0 {
			return nil
		}
		n += p.len()
		err := fn(p)
		p.reset()
		return err
	}
	if _, pg := s.dialect.(postgresDialect); !pg {
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var key sql.RawBytes // copied from the driver's string: one allocation a row instead of four
		var expire string
		// All of it, then fn: the statement's shared lock is released
		// before fn runs (which may wait for the index's lock), as the
		// statement bounds itself.
		for rows.Next() {
			if err := rows.Scan(&key, &expire); err != nil {
				return n, err
			}
			t, err := parseSQLiteTime(expire)
			if err != nil {
				return n, &data.RowError{SessionID: string(key), Err: err}
			}
			p.add(key, t.UnixMicro())
		}
		if err := rows.Err(); err != nil {
			return n, err
		}
		rows.Close()
		return n, flush()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		rows, err := pc.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		// Closing rows cut short reads them to their end: cancel first.
		defer rows.Close()
		defer cancel()
		fd := rows.FieldDescriptions()
		if len(fd) != 2 {
			return fmt.Errorf("a key page wants 2 columns, the statement gives %d", len(fd))
		}
		var ts pgtype.Timestamptz
		plan := pc.TypeMap().PlanScan(fd[1].DataTypeOID, fd[1].Format, &ts)
		for rows.Next() {
			v := rows.RawValues()
			if err := plan.Scan(v[1], &ts); err != nil || !ts.Valid || ts.InfinityModifier != pgtype.Finite {
				if err == nil {
					err = errors.New("expire_date is not a finite timestamp")
				}
				return &data.RowError{SessionID: string(v[0]), Err: err}
			}
			if p.add(v[0], ts.Time.UnixMicro()); p.len() == size {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return flush()
	})
	return n, err
}

// lastExpire is the expire_date of the page's last row.
func (p *keyPage) lastExpire() time.Time { return time.UnixMicro(p.expire[len(p.expire)-1]).UTC() }
