package sessionlogic_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"sessionmon/sessionlogic"
)

// The CSV columns are the JSON keys of Fields, in order: one shape.
func TestCSVHeaderIsTheJSONShape(t *testing.T) {
	var keys []string
	ft := reflect.TypeOf(sessionlogic.Fields{})
	for i := range ft.NumField() {
		keys = append(keys, strings.Split(ft.Field(i).Tag.Get("json"), ",")[0])
	}
	if !reflect.DeepEqual(keys, sessionlogic.CSVHeader) {
		t.Fatalf("CSVHeader = %q, want the JSON keys %q", sessionlogic.CSVHeader, keys)
	}
}

func exportAll(t *testing.T, f fixture, format sessionlogic.ExportFormat, q sessionlogic.ListQuery) (string, int) {
	t.Helper()
	var buf bytes.Buffer
	e, err := sessionlogic.NewExporter(&buf, format)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.m.ExportActive(context.Background(), q, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), n
}

func TestExportJSONIsWhatSessionsListPrints(t *testing.T) {
	f := newFixture(t, nil)
	for range 3 {
		f.login(t, "alice")
	}
	f.login(t, "bob")
	// The same bytes as an indented encoding of the whole listing, which
	// is what `sessions list --json` writes.
	p, err := f.m.Active(context.Background(), sessionlogic.ListQuery{Text: "alice", Sort: sessionlogic.SortLoginTime})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]sessionlogic.Fields, len(p.Sessions))
	for i, s := range p.Sessions {
		want[i] = sessionlogic.OperatorFields(s)
	}
	var wb bytes.Buffer
	enc := json.NewEncoder(&wb)
	enc.SetIndent("", "  ")
	if err := enc.Encode(want); err != nil {
		t.Fatal(err)
	}
	got, n := exportAll(t, f, sessionlogic.ExportJSON, sessionlogic.ListQuery{Text: "alice"})
	if n != 3 || got != wb.String() {
		t.Fatalf("export (%d) =\n%s\nwant\n%s", n, got, wb.String())
	}
	if !strings.Contains(got, `"id": "`+p.Sessions[0].ID+`"`) {
		t.Fatal("the export lacks the full session id")
	}
	got, n = exportAll(t, f, sessionlogic.ExportJSON, sessionlogic.ListQuery{Text: "nobody"})
	if n != 0 || got != "[]\n" {
		t.Fatalf("empty export = %q", got)
	}
}

func TestExportCSV(t *testing.T) {
	f := newFixture(t, nil)
	_, s := f.login(t, "bob")
	if _, _, err := f.m.Login(context.Background(), sessionlogic.LoginRequest{
		Username: "alice", Password: "alice-password", IP: "192.0.2.9", UserAgent: "=HYPERLINK(\"http://evil\")",
	}); err != nil {
		t.Fatal(err)
	}
	got, n := exportAll(t, f, sessionlogic.ExportCSV, sessionlogic.ListQuery{})
	recs, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(recs) != 3 || !reflect.DeepEqual(recs[0], sessionlogic.CSVHeader) {
		t.Fatalf("csv = %q", recs)
	}
	byUser := map[string][]string{}
	for _, r := range recs[1:] {
		byUser[r[2]] = r
	}
	if b := byUser["bob"]; b[0] != s.ID || b[11] != "192.0.2.1" || b[8] != s.LoginTime.UTC().Format("2006-01-02T15:04:05Z07:00") {
		t.Errorf("bob's record = %q", b)
	}
	// A formula from whoever logged in is defused.
	if a := byUser["alice"]; a[12] != `'=HYPERLINK("http://evil")` {
		t.Errorf("alice's user agent = %q, want it prefixed with an apostrophe", a[12])
	}
}

func TestExportFormatOf(t *testing.T) {
	for name, want := range map[string]sessionlogic.ExportFormat{"a.csv": "csv", "/tmp/x.JSON": "json"} {
		if got, err := sessionlogic.ExportFormatOf(name); err != nil || got != want {
			t.Errorf("ExportFormatOf(%q) = %q, %v", name, got, err)
		}
	}
	for _, name := range []string{"a.txt", "noext", ""} {
		if _, err := sessionlogic.ExportFormatOf(name); !errors.Is(err, sessionlogic.ErrInvalidInput) {
			t.Errorf("ExportFormatOf(%q) = %v, want ErrInvalidInput", name, err)
		}
	}
}
