package django

import (
	"testing"
	"time"
)

func benchRow(b *testing.B) (Keys, string) {
	keys := NewKeys("bench")
	now := time.Now()
	enc, err := keys.Encode(PyDumps(siteMembers("user0000123", 124, "editor", now, now)...), EncodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return keys, enc
}

func BenchmarkDecodeVerify(b *testing.B) {
	keys, enc := benchRow(b)
	b.ReportAllocs()
	for b.Loop() {
		d, err := Decode(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := keys.Verify(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	keys, _ := benchRow(b)
	js := PyDumps(siteMembers("user0000123", 124, "editor", time.Now(), time.Now())...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Encode(js, EncodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
