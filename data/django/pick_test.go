package django

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// pickCases are JSON texts where a shortcut reader could part from
// encoding/json.
var pickCases = []string{
	`{}`, ` {"user":"ann"} `, "\t\r\n{\"user\" : \"ann\" , \"user_id\" : 7}",
	`{"user":"ann","user":"bob"}`, `{"user":"ann","user":null}`, `{"user":"ann","user":1}`,
	`{"\u0075ser":"esc"}`, `{"us\"er":"x"}`, `{"User":"case"}`, `{"USER_ID":1}`,
	`{"user":"a\u00e9\ud83d\ude00b\n\"\\\/"}`, "{\"user\":\"\xff\xfe bad utf-8\"}", "{\"user\":\"caf\xc3\xa9\"}",
	`{"user_id":-0}`, `{"user_id":12.5e3}`, `{"user_id":1E+2}`, `{"user_id":"42"}`, `{"user_id":" 42"}`,
	`{"user_id":9223372036854775808}`, `{"_session_expiry":3600}`, `{"_auth_user_id":"3","user_id":true}`,
	`{"login_time":"2024-05-01T10:00:00.123456+00:00","last_activity":1714557600.5}`,
	`{"ip":{"a":[1,2,{"b":null}]},"user_agent":[]}`, `{"x":[[[[]]]],"user":"deep"}`,
	`{"user":"ann"} trailing`, `{"user":"ann"}{"user":"bob"}`,
	// Malformed: encoding/json refuses each.
	``, ` `, `null`, `[]`, `"s"`, `1`, `{`, `{"user"}`, `{"user":}`, `{"user":"a",}`, `{,}`,
	`{"user":01}`, `{"user":1.}`, `{"user":-}`, `{"user":1e}`, `{"user":.5}`, `{"user":+1}`,
	`{"user":tru}`, `{"user":nul}`, `{"user":"\x"}`, `{"user":"\u12"}`, "{\"user\":\"a\x01\"}",
	`{"user":"unterminated}`, `{"a":[1,]}`, `{"a":{"b"}}`, `{'user':'x'}`, `{"a":1 "b":2}`,
	strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100),
	`{"user":"x","a":` + strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70) + `}`,
}

// fullFields is what the whole-dict path reads: encoding/json, then
// fieldsOf.
func fullFields(js []byte) (*fields, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not an object")
	}
	return fieldsOf(m), nil
}

// checkPick holds pick to encoding/json: when pick answers, the whole
// decode succeeds with the same fields.
func checkPick(t *testing.T, js []byte) {
	t.Helper()
	got, ok := pick(js)
	want, err := fullFields(js)
	if !ok {
		return // the caller falls back to encoding/json
	}
	if err != nil {
		t.Fatalf("pick(%q) accepted what encoding/json refuses: %v", js, err)
	}
	if got != *want {
		t.Fatalf("pick(%q)\n got %+v\nwant %+v", js, got, *want)
	}
}

func TestPickReadsAsEncodingJSON(t *testing.T) {
	for _, c := range pickCases {
		checkPick(t, []byte(c))
	}
	// The cases pick must answer itself (else there is no speed-up).
	for _, c := range []string{`{}`, `{"user":"ann","user_id":7}`, `{"\u0075ser":"esc"}`, `{"user":"ann"} trailing`,
		`{"ip":{"a":[1,2,{"b":null}]},"user_agent":[]}`, "{\"user\":\"\xff\"}"} {
		if _, ok := pick([]byte(c)); !ok {
			t.Errorf("pick(%q) fell back to encoding/json", c)
		}
	}
	f, _ := pick([]byte(`{"\u0075ser":"esc","user_id":"7","user_role":null,"ip":[1],"User":"no"}`))
	if f[fUser] != (fval{kindString, "esc"}) || f[fUserID] != (fval{kindString, "7"}) || f[fUserRole] != (fval{}) || f[fIP].kind != kindOther {
		t.Errorf("pick = %+v", f)
	}
}

// TestDecodeFieldsIsDecode: the index's decode gives every row Django
// wrote (and every malformed one) the fields, format, JSON and error of
// the whole decode.
func TestDecodeFieldsIsDecode(t *testing.T) {
	fx := loadFixtures(t)
	rows := []string{"", "x", "::", b64std("h:[1]"), b64std("h:" + `{"user":"l"}`), ".!!!:1xYKU4:sig", b64url(`{"user":01}`) + ":1xYKU4:sig"}
	for _, c := range fx.Cases {
		rows = append(rows, c.SessionData)
	}
	for _, c := range pickCases {
		rows = append(rows, b64url(c)+":1xYKU4:sig")
	}
	for _, s := range rows {
		checkDecodeFields(t, s)
	}
}

func checkDecodeFields(t *testing.T, s string) {
	t.Helper()
	full, ferr := Decode(s)
	lite, lerr := decodeFields(s)
	if (ferr == nil) != (lerr == nil) || ferr != nil && ferr.Error() != lerr.Error() {
		t.Fatalf("%q: Decode error %v, decodeFields error %v", s, ferr, lerr)
	}
	if ferr != nil {
		return
	}
	if *full.fields != *lite.fields || !bytes.Equal(full.JSON, lite.JSON) || full.Format != lite.Format ||
		full.Compressed != lite.Compressed || !full.Signed.Equal(lite.Signed) || full.signedPart != lite.signedPart ||
		full.sig != lite.sig || full.legacyHash != lite.legacyHash {
		t.Fatalf("%q: decodeFields %+v, Decode %+v", s, lite, full)
	}
	k := NewKeys("k")
	v1, e1 := k.Verify(full)
	v2, e2 := k.Verify(lite)
	if v1 != v2 || !errors.Is(e2, e1) {
		t.Fatalf("%q: Verify %v %v vs %v %v", s, v1, e1, v2, e2)
	}
}

// TestToSessionSameFromFields: a Session built from the fields alone is
// the one built from the whole dict, less the dict's other members.
func TestToSessionSameFromFields(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	s := &Source{opts: Options{Keys: NewKeys("k"), CookieAge: DefaultCookieAge}}
	for _, js := range [][]byte{
		PyDumps(siteMembers("ann", 7, "admin", now.Add(-time.Hour), now)...),
		PyDumps(Member{"_auth_user_id", "3"}, Member{"_session_expiry", 600}, Member{"cart", "x"}),
		PyDumps(Member{"cart", "x"}),
	} {
		enc, err := s.opts.Keys.Encode(js, EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := row{key: strings.Repeat("a", 32), data: enc, expire: now.Add(time.Hour)}
		pf, err := s.parseRow(r)
		if err != nil {
			t.Fatal(err)
		}
		pd, err := s.parseRowDict(r)
		if err != nil {
			t.Fatal(err)
		}
		users := map[int64]authUser{3: {id: 3, username: "carl", staff: true, active: true, lastLogin: now.Add(-2 * time.Hour)}}
		a, b := s.toSession(r, pf, users), s.toSession(r, pd, users)
		for k := range b.Data {
			if _, ok := a.Data[k]; !ok && !strings.HasPrefix(k, "sessionmon.") {
				delete(b.Data, k) // the dict's other members
			}
		}
		if a.Username != b.Username || a.UserID != b.UserID || a.Role != b.Role || a.Status != b.Status ||
			a.Email != b.Email || a.FullName != b.FullName || a.IP != b.IP || a.UserAgent != b.UserAgent ||
			!a.LoginTime.Equal(b.LoginTime) || !a.LastActivity.Equal(b.LastActivity) || len(a.Data) != len(b.Data) {
			t.Errorf("%s:\nfields %+v\n  dict %+v", js, a, b)
		}
	}
}

func FuzzPick(f *testing.F) {
	for _, c := range pickCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		checkPick(t, js)
		checkDecodeFields(t, b64url(string(js))+":1xYKU4:sig")
	})
}
