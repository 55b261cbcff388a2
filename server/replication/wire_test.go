package replication

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestWALFrameDecodesLikeJSON: the streamed WAL frame decodes into the same
// frame as encoding/json's encoding of it.
func TestWALFrameDecodesLikeJSON(t *testing.T) {
	entries := []storage.WALEntry{
		{Index: 1, Epoch: 1 << 62, Key: "logical/secret/a", Value: []byte(`{"v":"1"}`), CreatedAt: 1700000000000000000},
		{Index: 2, Epoch: 7, Delete: true, Key: "logical/secret/\"quoted\" <html> é", CreatedAt: 2},
		{Index: 3, Epoch: 7, Key: "k", Value: bytes.Repeat([]byte{0, 1, 2, 0xff}, 100000), CreatedAt: 3},
		{Index: 4, Epoch: 7, Key: "two", Value: []byte{1, 2}, CreatedAt: 4},
	}
	var streamed bytes.Buffer
	if err := writeWALFrame(&streamed, entries); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(frame{Type: "wal", Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	var got, ref frame
	if err := json.Unmarshal(streamed.Bytes(), &got); err != nil {
		t.Fatalf("streamed frame is not JSON: %v", err)
	}
	if err := json.Unmarshal(want, &ref); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ref) {
		t.Fatalf("streamed frame decodes to %+v, want %+v", got.Entries[:2], ref.Entries[:2])
	}
	if !bytes.HasSuffix(streamed.Bytes(), []byte("}\n")) {
		t.Fatal("frame is not one NDJSON line")
	}
}

// TestByteBudget: an item that does not fit waits until bytes are
// released; a single item larger than the budget passes alone.
func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	stop := make(chan struct{})
	if !b.acquire(500, stop) {
		t.Fatal("an item larger than the budget must pass when nothing is held")
	}
	got := make(chan bool)
	go func() { got <- b.acquire(10, stop) }()
	select {
	case <-got:
		t.Fatal("acquired while the budget was exhausted")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(500)
	if !<-got {
		t.Fatal("acquire failed after release")
	}
	go func() { got <- b.acquire(95, stop) }()
	close(stop)
	if <-got {
		t.Fatal("acquire succeeded after stop although it did not fit")
	}
}

// TestProgressReaderPause: a paused reader is never idle, and its idle time
// restarts when it resumes.
func TestProgressReaderPause(t *testing.T) {
	var n atomic.Uint64
	p := newProgressReader(bytes.NewReader([]byte("abc")), &n)
	p.last.Store(time.Now().Add(-time.Hour).UnixNano())
	if idle := p.idleFor(time.Now()); idle < time.Hour {
		t.Fatalf("idle %s, want an hour", idle)
	}
	p.pause()
	if idle := p.idleFor(time.Now()); idle != 0 {
		t.Fatalf("paused reader idle %s", idle)
	}
	p.resume()
	if idle := p.idleFor(time.Now()); idle > time.Minute {
		t.Fatalf("idle %s right after resume", idle)
	}
	if _, err := p.Read(make([]byte, 8)); err != nil || n.Load() != 3 {
		t.Fatalf("read counted %d bytes, %v", n.Load(), err)
	}
}

// TestWALRecordRoundTrip: a stream of JSON lines and binary WAL records
// (after a start line read by a json.Decoder, as the secondary does) reads
// back as the frames written, WAL entries exactly as the JSON frame gives.
func TestWALRecordRoundTrip(t *testing.T) {
	entries := []storage.WALEntry{
		{Index: 1, Epoch: 1 << 62, Key: "logical/secret/a", Value: []byte(`{"v":"1"}`), CreatedAt: 1700000000000000000},
		{Index: 2, Epoch: 7, Delete: true, Key: "logical/secret/\"quoted\" é", CreatedAt: -2},
		{Index: 3, Epoch: 7, Key: "k", Value: bytes.Repeat([]byte{0, 1, 2, 0xff}, 100000), CreatedAt: 3},
		{Index: 4, Epoch: 7, Key: "", CreatedAt: 4}, // a filtered entry's placeholder
	}
	var stream bytes.Buffer
	enc := json.NewEncoder(&stream)
	if err := enc.Encode(frame{Type: "start", Mode: "stream", BinaryWAL: true}); err != nil {
		t.Fatal(err)
	}
	if err := writeWALRecord(&stream, entries[:2]); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(frame{Type: "heartbeat", LastWAL: 2, SentAt: 9}); err != nil {
		t.Fatal(err)
	}
	if err := writeWALRecord(&stream, entries[2:]); err != nil {
		t.Fatal(err)
	}
	var ref frame
	raw, _ := json.Marshal(frame{Type: "wal", Entries: entries})
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&stream)
	var start frame
	if err := dec.Decode(&start); err != nil || !start.BinaryWAL {
		t.Fatalf("start: %+v, %v", start, err)
	}
	br := bufio.NewReader(io.MultiReader(dec.Buffered(), &stream))
	var got []frame
	for {
		f, err := readStreamFrame(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(got), err)
		}
		got = append(got, f)
	}
	if len(got) != 3 || got[0].Type != "wal" || got[1].Type != "heartbeat" || got[1].SentAt != 9 || got[2].Type != "wal" {
		t.Fatalf("frames: %+v", got)
	}
	if all := append(got[0].Entries, got[2].Entries...); !reflect.DeepEqual(all, ref.Entries) {
		t.Fatalf("entries %+v, want %+v", all[:2], ref.Entries[:2])
	}
}

// TestWALRecordRejectsCorruption: truncated or oversized records fail
// with an error, never a panic or an allocation of the claimed size.
func TestWALRecordRejectsCorruption(t *testing.T) {
	var good bytes.Buffer
	if err := writeWALRecord(&good, []storage.WALEntry{{Index: 5, Epoch: 1, Key: "key", Value: []byte("value"), CreatedAt: 1}}); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"zero entries": {walRecordTag, 0},
		"huge count":   append([]byte{walRecordTag}, binary.AppendUvarint(nil, 1<<40)...),
		"huge key":     append([]byte{walRecordTag, 1, 5, 1, 0}, binary.AppendUvarint(nil, 1<<40)...),
		"bad flags":    {walRecordTag, 1, 5, 1, 7},
		"long line":    append(bytes.Repeat([]byte("x"), maxStreamLineBytes+10), '\n'),
		"not json":     []byte("{nope\n"),
	}
	for i := 1; i < good.Len(); i++ {
		cases[fmt.Sprintf("truncated at %d", i)] = good.Bytes()[:i]
	}
	for name, b := range cases {
		if _, err := readStreamFrame(bufio.NewReader(bytes.NewReader(b))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	f, err := readStreamFrame(bufio.NewReader(bytes.NewReader(good.Bytes())))
	if err != nil || len(f.Entries) != 1 || f.Entries[0].Key != "key" || string(f.Entries[0].Value) != "value" {
		t.Fatalf("good record: %+v, %v", f, err)
	}
}
