package storage

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// TestRecentWALMatchesTable: what WALSinceBytes serves from memory is what
// the WAL table holds, for every starting point and limit, and after a trim
// or a wipe it is the table that answers.
func TestRecentWALMatchesTable(t *testing.T) { eachEngine(t, testRecentWALMatchesTable) }

func testRecentWALMatchesTable(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				ops := []Op{put(fmt.Sprintf("k/%d/%d", c, i), fmt.Sprintf("value %d", i))}
				if i%5 == 0 {
					ops = append(ops, Op{Key: fmt.Sprintf("k/%d/%d", c, i-1), Delete: true}, Op{Key: "local", Local: true, Value: []byte("x")})
				}
				if _, err := s.Write(ctx, ops...); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	last := s.Position().LastWAL
	check := func(what string) {
		t.Helper()
		for after := uint64(0); after <= last+1; after++ {
			for _, lim := range []struct {
				n     int
				bytes int64
			}{{512, 1 << 20}, {3, 1 << 20}, {512, 20}, {1, 1}} {
				got, err := s.WALSinceBytes(ctx, after, lim.n, lim.bytes)
				if err != nil {
					t.Fatal(err)
				}
				want, err := s.WALSince(ctx, after, lim.n)
				if err != nil {
					t.Fatal(err)
				}
				// The table's answer cut at the same byte limit.
				total, n := int64(0), 0
				for _, e := range want {
					if n > 0 && total+entrySize(e) > lim.bytes {
						break
					}
					n, total = n+1, total+entrySize(e)
				}
				want = want[:n]
				if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(normalise(got), normalise(want))) {
					t.Fatalf("%s: WALSinceBytes(%d, %d, %d) = %d entries, the table has %d: %+v vs %+v", what, after, lim.n, lim.bytes, len(got), len(want), got, want)
				}
			}
		}
	}
	s.mu.Lock()
	held := s.recent.n
	s.mu.Unlock()
	if held == 0 {
		t.Fatal("no entries kept in memory after plain writes")
	}
	check("from memory")
	if _, err := s.TrimWAL(ctx, last/2); err != nil {
		t.Fatal(err)
	}
	check("after a trim")
	if err := s.Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	last = s.Position().LastWAL
	check("after a wipe")
}

// normalise makes empty and nil values compare equal (the table returns
// an empty put value as empty, memory keeps what was written).
func normalise(es []WALEntry) []WALEntry {
	out := make([]WALEntry, len(es))
	for i, e := range es {
		if len(e.Value) == 0 {
			e.Value = nil
		}
		out[i] = e
	}
	return out
}

// TestRecentWALWraps: the circular log keeps the newest entries in order
// across wrap-arounds and within its byte bound.
func TestRecentWALWraps(t *testing.T) {
	var r recentWAL
	next := uint64(1)
	for range 3*recentWALEntries/100 + 7 {
		batch := make([]WALEntry, 100)
		for i := range batch {
			batch[i] = WALEntry{Index: next, Key: "k", Value: []byte("v")}
			next++
		}
		r.add(batch)
	}
	if r.n != recentWALEntries || r.bytes != int64(2*recentWALEntries) {
		t.Fatalf("log holds %d entries, %d bytes; want %d, %d", r.n, r.bytes, recentWALEntries, 2*recentWALEntries)
	}
	got, ok := r.since(next-1-recentWALEntries, recentWALEntries+1, 1<<40)
	if !ok || len(got) != recentWALEntries {
		t.Fatalf("since(oldest-1) = %d entries, %v", len(got), ok)
	}
	for i, e := range got {
		if e.Index != next-recentWALEntries+uint64(i) {
			t.Fatalf("entry %d has index %d, want %d", i, e.Index, next-recentWALEntries+uint64(i))
		}
	}
	if _, ok := r.since(next-2-recentWALEntries, 10, 1<<40); ok {
		t.Fatal("since served an index older than the log holds")
	}
	r.add([]WALEntry{{Index: next + 5, Key: "gap"}})
	if r.n != 1 {
		t.Fatalf("after a gap the log holds %d entries, want it started over with 1", r.n)
	}
}
