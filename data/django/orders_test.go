package django

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"sessionmon/data"
)

// TestKeptOrderTakesChangesInPlace: once a busy site's changes pile up
// past what a listing merges on each poll, they are merged into the kept
// order itself, in its own memory (at a million sessions a sort anew took
// an 8 MB buffer and 300 ms every few minutes), and the listings, in
// every order, direction and filter, still match the reference.
func TestKeptOrderTakesChangesInPlace(t *testing.T) {
	defer func(old int) { orderChangedMin = old }(orderChangedMin)
	orderChangedMin = 20
	rng := rand.New(rand.NewPCG(5, 6))
	now := time.Now().UTC().Truncate(time.Microsecond)
	x := testIndex(t, rng, 400, now)
	var keys []string
	x.m.each(func(k32 [32]byte, k string, e entry) { keys = append(keys, keyString(k32, k)) })
	filters := []data.Query{{}, {Username: "alice"}, {Text: "ALI"}, {IP: "10.0.2"}}
	for _, sk := range data.SortKeys {
		for round := range 6 {
			q := data.Query{Now: now, Sort: sk, Limit: 7}
			x.list(q) // sorts the order, or merges what changed into it
			o := x.qc.orders[sk]
			if o == nil {
				t.Fatalf("%v: no kept order", sk)
			}
			at := unsafe.SliceData(o.ids)
			churn(x, rng, &keys, now, 60) // past orderChangedMin
			for _, f := range filters {
				for _, desc := range []bool{false, true} {
					q := f
					q.Now, q.Sort, q.Desc, q.Limit = now, sk, desc, 7
					walkListing(t, x, q, fmt.Sprintf("round %d %+v", round, q))
				}
			}
			if x.qc.orders[sk] != o || unsafe.SliceData(o.ids) != at {
				t.Fatalf("%v round %d: the order was sorted anew, not merged into", sk, round)
			}
			if len(x.m.changed) != 0 {
				t.Fatalf("%v round %d: %d changes left in the log after the merge", sk, round, len(x.m.changed))
			}
		}
	}
}

// walkListing pages through q's listing as the dashboard scrolls it,
// each page as the reference's.
func walkListing(t *testing.T, x *index, q data.Query, name string) {
	t.Helper()
	for pages := 0; ; pages++ {
		got, want := x.list(q), refList(x, q)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: page %d\ngot  %v\nwant %v", name, pages, ids(got.Sessions), ids(want.Sessions))
		}
		if got.Next == nil {
			return
		}
		q.After = got.Next
	}
}
