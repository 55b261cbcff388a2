package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestReplaceRangeCopiesKeyspace: copying a store range by range (as a
// merkle sync of a whole keyspace does) into a diverged one makes them
// equal, keys the source lacks included, with merkle buckets that a
// rebuild agrees with.
func TestReplaceRangeCopiesKeyspace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openSQLiteTest(t, filepath.Join(dir, "a.db"))
	b := openSQLiteTest(t, filepath.Join(dir, "b.db"))
	if !a.CanCopyRanges() {
		t.Fatal("SQLite store cannot copy ranges")
	}
	for i := range 1500 {
		if _, err := a.Write(ctx, put(fmt.Sprintf("key/%04d", i), fmt.Sprintf("value %d", i))); err != nil {
			t.Fatal(err)
		}
		// b holds every third key with another value, and keys a lacks
		// before, between and after a's.
		if i%3 == 0 {
			if _, err := b.Write(ctx, put(fmt.Sprintf("key/%04d", i), "stale")); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, k := range []string{"a-first", "key/0500x", "zz-last"} {
		if _, err := b.Write(ctx, put(k, "only b")); err != nil {
			t.Fatal(err)
		}
	}
	after, ranges := "", 0
	for {
		kvs, done, err := a.KVsAfter(ctx, after, 2000, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !done && len(kvs) == 0 {
			t.Fatal("an empty range that is not the last")
		}
		if err := b.ReplaceRange(ctx, after, kvs, done); err != nil {
			t.Fatal(err)
		}
		ranges++
		if done {
			break
		}
		after = kvs[len(kvs)-1].Key
	}
	if ranges < 10 {
		t.Fatalf("copied in %d ranges, want many (the byte bound)", ranges)
	}
	if ra, rb := a.Position().MerkleRoot, b.Position().MerkleRoot; ra != rb {
		t.Fatalf("roots differ after the copy: %s vs %s", ra, rb)
	}
	for _, k := range []string{"a-first", "key/0500x", "zz-last"} {
		if _, err := b.Get(ctx, k); err == nil {
			t.Fatalf("%s survived the copy", k)
		}
	}
	if v, err := b.Get(ctx, "key/0999"); err != nil || string(v) != "value 999" {
		t.Fatalf("key/0999 on b: %q %v", v, err)
	}
	if fixed, err := b.Reindex(ctx); err != nil || fixed != 0 {
		t.Fatalf("reindex after the copy fixed %d buckets (err %v), want 0", fixed, err)
	}
}

// TestKVsAfterBounds: a range holds at least one row however large, stops
// once its bytes reach the bound, leaves out what keep refuses, and says
// when the keyspace ended.
func TestKVsAfterBounds(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteTest(t, filepath.Join(t.TempDir(), "s.db"))
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, err := s.Write(ctx, put(k, "0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	kvs, done, err := s.KVsAfter(ctx, "", 1, nil)
	if err != nil || len(kvs) != 1 || kvs[0].Key != "a" || done {
		t.Fatalf("1-byte bound: %v done %v err %v, want only a, not done", kvs, done, err)
	}
	kvs, done, err = s.KVsAfter(ctx, "a", 22, func(k string) bool { return k != "b" })
	if err != nil || len(kvs) != 2 || kvs[0].Key != "c" || kvs[1].Key != "d" || !done {
		t.Fatalf("after a without b: %v done %v err %v, want c, d and done", kvs, done, err)
	}
	kvs, done, err = s.KVsAfter(ctx, "d", 1<<20, nil)
	if err != nil || len(kvs) != 0 || !done {
		t.Fatalf("after the last key: %v done %v err %v, want nothing and done", kvs, done, err)
	}
	if err := s.ReplaceRange(ctx, "", nil, false); err == nil {
		t.Fatal("an empty range that is not the last was accepted")
	}
	if err := s.ReplaceRange(ctx, "b", []KV{{Key: "a", Value: []byte("x")}}, true); err == nil {
		t.Fatal("a key before the range's start was accepted")
	}
}

// TestReplaceBucketsInBulk: replacing many buckets at once (rows inserted
// bulkRows per statement, and a remainder) gives the source's contents.
func TestReplaceBucketsInBulk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openSQLiteTest(t, filepath.Join(dir, "a.db"))
	b := openSQLiteTest(t, filepath.Join(dir, "b.db"))
	for i := range 3*bulkRows + 7 {
		if _, err := a.Write(ctx, put(fmt.Sprintf("k/%d", i), fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Write(ctx, put("k/0", "stale"), put("gone", "x")); err != nil {
		t.Fatal(err)
	}
	all := make([]int, NumBuckets)
	for i := range all {
		all[i] = i
	}
	contents, err := a.BucketEntries(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ReplaceBuckets(ctx, contents); err != nil {
		t.Fatal(err)
	}
	if ra, rb := a.Position().MerkleRoot, b.Position().MerkleRoot; ra != rb {
		t.Fatalf("roots differ after the copy: %s vs %s", ra, rb)
	}
	if v, err := b.Get(ctx, "k/0"); err != nil || string(v) != "v0" {
		t.Fatalf("k/0 on b: %q %v", v, err)
	}
	if _, err := b.Get(ctx, "gone"); err == nil {
		t.Fatal("gone survived the copy")
	}
}

// hasBucketIndex reports whether s's SQLite file has the kv_bucket index.
func hasBucketIndex(t *testing.T, s *Store) bool {
	t.Helper()
	e, ok := s.db.(*sqliteEngine)
	if !ok {
		t.Fatal("not a SQLite store")
	}
	var n int
	if err := e.readers.QueryRowContext(context.Background(),
		`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'kv_bucket'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestReplaceRangeBucketIndex: a copy of many ranges runs without the
// bucket index and its last range builds it again; a copy that stops
// half-way gets it back from EnsureBucketIndex, or from a bucket copy.
func TestReplaceRangeBucketIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openSQLiteTest(t, filepath.Join(dir, "s.db"))
	kv := func(k string) []KV { return []KV{{Key: k, Value: []byte("v")}} }
	if err := s.ReplaceRange(ctx, "", kv("a"), false); err != nil {
		t.Fatal(err)
	}
	if hasBucketIndex(t, s) {
		t.Fatal("the bucket index is there during a copy of many ranges")
	}
	if err := s.ReplaceRange(ctx, "a", kv("b"), true); err != nil {
		t.Fatal(err)
	}
	if !hasBucketIndex(t, s) {
		t.Fatal("the last range did not build the bucket index")
	}
	got, err := s.BucketEntries(ctx, []int{bucketOf("b")})
	if err != nil || len(got[bucketOf("b")]) == 0 {
		t.Fatalf("bucket of b after the copy: %v %v", got, err)
	}

	// Interrupted: only the first of many ranges.
	if err := s.ReplaceRange(ctx, "", kv("a"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucketIndex(ctx); err != nil || !hasBucketIndex(t, s) {
		t.Fatalf("EnsureBucketIndex: %v, index there: %v", err, hasBucketIndex(t, s))
	}
	if err := s.ReplaceRange(ctx, "", kv("a"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceBuckets(ctx, map[int][]KV{bucketOf("a"): kv("a")}); err != nil || !hasBucketIndex(t, s) {
		t.Fatalf("ReplaceBuckets after an interrupted copy: %v, index there: %v", err, hasBucketIndex(t, s))
	}
	if fixed, err := s.Reindex(ctx); err != nil || fixed != 0 {
		t.Fatalf("reindex fixed %d buckets (err %v), want 0", fixed, err)
	}
}
