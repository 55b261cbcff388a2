package replication

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestBucketAnswerRoundTrip: what the primary writes for a fetch decodes
// into the same buckets, empty ones included.
func TestBucketAnswerRoundTrip(t *testing.T) {
	want := map[int][]storage.KV{
		3:  {{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte{}}},
		9:  {},
		17: {{Key: "c", Value: bytes.Repeat([]byte{0, 255}, 5000)}},
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	for _, b := range []int{3, 9, 17} {
		if err := writeBucketRecord(w, b, want[b]); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeBucketEnd(w); err != nil {
		t.Fatal(err)
	}
	got, err := readBuckets(bufio.NewReader(&buf), []int{3, 9, 17, 40})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !reflect.DeepEqual(got[3], want[3]) || len(got[9]) != 0 || !bytes.Equal(got[17][0].Value, want[17][0].Value) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
}

// TestBucketAnswerRefusesMalformed: a bucket not asked for, out of order,
// an answer covering none, a truncated one and lengths past the bounds are
// errors, not allocations or panics.
func TestBucketAnswerRefusesMalformed(t *testing.T) {
	record := func(b int, kvs ...storage.KV) []byte {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		_ = writeBucketRecord(w, b, kvs)
		_ = w.Flush()
		return buf.Bytes()
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	end := []byte{0}
	kv := storage.KV{Key: "k", Value: []byte("v")}
	for name, answer := range map[string][]byte{
		"not asked":      cat(record(5, kv), end),
		"out of order":   cat(record(2), record(1), end),
		"none covered":   end,
		"truncated":      record(1, kv)[:4],
		"no end":         record(1, kv),
		"huge count":     {2, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge key":       {2, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"value past end": {2, 1, 1, 'k', 50, 'v'},
	} {
		if _, err := readBuckets(bufio.NewReader(bytes.NewReader(answer)), []int{1, 2, 3}); !errors.Is(err, errBadBuckets) {
			t.Errorf("%s: err %v, want a malformed answer", name, err)
		}
	}
}

// TestRangeAnswer: a range decodes in order with its end flag; rows out of
// order or not after the start, and an empty range that is not the last,
// are refused.
func TestRangeAnswer(t *testing.T) {
	encode := func(kvs []storage.KV, done bool) *bufio.Reader {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if err := writeRangeAnswer(w, kvs, done); err != nil {
			t.Fatal(err)
		}
		return bufio.NewReader(&buf)
	}
	rows := []storage.KV{{Key: "b", Value: []byte("1")}, {Key: "c", Value: []byte{}}}
	got, done, err := readRangeAnswer(encode(rows, false), "a")
	if err != nil || done || !reflect.DeepEqual(got, rows) {
		t.Fatalf("decoded %v done %v err %v, want %v not done", got, done, err, rows)
	}
	if got, done, err := readRangeAnswer(encode(nil, true), "z"); err != nil || !done || len(got) != 0 {
		t.Fatalf("last empty range: %v done %v err %v", got, done, err)
	}
	for name, r := range map[string]*bufio.Reader{
		"not after start": encode(rows, false),
		"out of order":    encode([]storage.KV{rows[1], rows[0]}, true),
		"empty, not last": encode(nil, false),
	} {
		after := ""
		if name == "not after start" {
			after = "b"
		}
		if _, _, err := readRangeAnswer(r, after); !errors.Is(err, errBadBuckets) {
			t.Errorf("%s: err %v, want a malformed answer", name, err)
		}
	}
}
