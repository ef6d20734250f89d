package sessionlogic

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// OperatorFields is s as the operator outputs show it (`sessions list
// --json`, the dashboard's export): its Fields with the full id, which is
// what an operator acts on.
func OperatorFields(s Session) Fields {
	f := FieldsOf(s)
	f.ID = s.ID
	return f
}

// ExportFormat is the file format of an export.
type ExportFormat string

const (
	ExportCSV  ExportFormat = "csv"
	ExportJSON ExportFormat = "json"
)

// ExportFormatOf picks the format from a file name's extension.
func ExportFormatOf(path string) (ExportFormat, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return ExportCSV, nil
	case ".json":
		return ExportJSON, nil
	}
	return "", fmt.Errorf("%w: %q: want a file name ending in .csv or .json", ErrInvalidInput, clip(path, 200))
}

// CSVHeader names the CSV columns: the JSON keys of Fields, in order.
var CSVHeader = []string{"id", "session", "user", "user_id", "user_email", "user_name", "user_role", "user_status",
	"login_time", "last_activity", "expires_at", "ip", "user_agent", "data"}

// CSVRecord is f as one CSV record under CSVHeader. Times are RFC 3339 in
// UTC as in the JSON; data is its JSON object. A cell that a spreadsheet
// would run as a formula (it starts with =, +, -, @, a tab or a carriage
// return: a user agent or a name is chosen by whoever logs in) gets a
// leading apostrophe, as OWASP advises for CSV exports.
func (f Fields) CSVRecord() ([]string, error) {
	data := ""
	if len(f.Data) > 0 {
		b, err := json.Marshal(f.Data)
		if err != nil {
			return nil, fmt.Errorf("session %s: data: %w", f.Session, err)
		}
		data = string(b)
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	rec := []string{f.ID, f.Session, f.User, strconv.FormatInt(f.UserID, 10), f.Email, f.Name, f.Role, f.Status,
		ts(f.LoginTime), ts(f.LastActivity), ts(f.ExpiresAt), f.IP, f.UserAgent, data}
	for i, v := range rec {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			rec[i] = "'" + v
		}
	}
	return rec, nil
}

// Exporter writes sessions to w one at a time, as CSV (a header row, then
// CSVRecord per session) or as JSON exactly as `sessions list --json`
// prints them (an indented array of OperatorFields), without holding them
// all in memory. Close finishes the file.
type Exporter struct {
	w      io.Writer
	format ExportFormat
	csv    *csv.Writer
	n      int
	err    error
}

// NewExporter starts an export to w.
func NewExporter(w io.Writer, format ExportFormat) (*Exporter, error) {
	e := &Exporter{w: w, format: format}
	switch format {
	case ExportCSV:
		e.csv = csv.NewWriter(w)
		e.err = e.csv.Write(CSVHeader)
	case ExportJSON:
	default:
		return nil, fmt.Errorf("%w: export format %q: want csv or json", ErrInvalidInput, clip(string(format), 20))
	}
	return e, e.err
}

// Write appends one session.
func (e *Exporter) Write(s Session) error {
	if e.err != nil {
		return e.err
	}
	f := OperatorFields(s)
	switch e.format {
	case ExportCSV:
		rec, err := f.CSVRecord()
		if err != nil {
			e.err = err
			return err
		}
		e.err = e.csv.Write(rec)
	default:
		b, err := json.MarshalIndent(f, "  ", "  ")
		if err != nil {
			e.err = fmt.Errorf("session %s: %w", f.Session, err)
			return e.err
		}
		sep := ",\n  "
		if e.n == 0 {
			sep = "[\n  "
		}
		if _, err := io.WriteString(e.w, sep); err != nil {
			e.err = err
			return err
		}
		_, e.err = e.w.Write(b)
	}
	if e.err == nil {
		e.n++
	}
	return e.err
}

// Count is how many sessions were written.
func (e *Exporter) Count() int { return e.n }

// Close finishes the file (the JSON array's end, the CSV buffer); it does
// not close w.
func (e *Exporter) Close() error {
	if e.err != nil {
		return e.err
	}
	switch e.format {
	case ExportCSV:
		e.csv.Flush()
		e.err = e.csv.Error()
	default:
		end := "\n]\n"
		if e.n == 0 {
			end = "[]\n"
		}
		_, e.err = io.WriteString(e.w, end)
	}
	return e.err
}

// exportPage is how many sessions ExportActive reads per store call.
const exportPage = 1000

// ExportActive writes every active session q selects to e and returns how
// many it wrote. It pages in login-time order whatever q.Sort says: a login
// time never changes, so a session that is touched while the export runs
// neither appears twice nor is skipped, as it could be in expiry or
// last-activity order. Sessions that log in meanwhile come at the end.
func (m *Manager) ExportActive(ctx context.Context, q ListQuery, e *Exporter) (int, error) {
	q.Sort, q.Desc, q.Limit, q.After = SortLoginTime, false, exportPage, nil
	var corrupt []error // rows that cannot be read: named, never hiding the others
	for {
		p, err := m.Active(ctx, q)
		bad, rest := SplitRowErrors(err)
		if rest != nil {
			return e.Count(), fmt.Errorf("export: %w", rest)
		}
		for _, b := range bad {
			corrupt = append(corrupt, b)
		}
		for _, s := range p.Sessions {
			if err := e.Write(s); err != nil {
				return e.Count(), fmt.Errorf("export: %w", err)
			}
		}
		if p.Next == nil {
			if len(corrupt) > 0 {
				return e.Count(), fmt.Errorf("export: %w", errors.Join(corrupt...))
			}
			return e.Count(), nil
		}
		q.After = p.Next
	}
}
