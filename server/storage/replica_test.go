package storage

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// TestApplyRemoteFollowsPrimary: a follower that applies the primary's WAL
// has the same data, position and merkle root.
func TestApplyRemoteFollowsPrimary(t *testing.T) { eachEngine(t, testApplyRemoteFollowsPrimary) }

func testApplyRemoteFollowsPrimary(t *testing.T, openTest opener) {
	ctx := context.Background()
	primary := openTest(t, "p")
	follower := openTest(t, "f")
	if err := primary.SetEpoch(ctx, 7); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		ops := []Op{put(fmt.Sprintf("k%d", i%120), fmt.Sprintf("v%d", i))}
		if i%7 == 0 {
			ops = append(ops, Op{Key: fmt.Sprintf("k%d", i%50), Delete: true})
		}
		if _, err := primary.Write(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	var last uint64
	for {
		batch, err := primary.WALSince(ctx, last, 64)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		if err := follower.ApplyRemote(ctx, batch); err != nil {
			t.Fatal(err)
		}
		// Resending a batch is harmless.
		if err := follower.ApplyRemote(ctx, batch); err != nil {
			t.Fatal(err)
		}
		last = batch[len(batch)-1].Index
	}
	p, f := primary.Position(), follower.Position()
	if p.LastWAL != f.LastWAL || p.MerkleRoot != f.MerkleRoot || f.LastEpoch != 7 {
		t.Fatalf("follower %+v, primary %+v", f, p)
	}
	if epoch, ok, err := follower.WALEpochAt(ctx, p.LastWAL); err != nil || !ok || epoch != 7 {
		t.Fatalf("follower's WAL entry %d: epoch %d present %v err %v", p.LastWAL, epoch, ok, err)
	}
}

// TestMerkleSyncCopiesOnlyDifferingBuckets: replacing the buckets whose
// hashes differ makes two diverged stores equal.
func TestMerkleSyncCopiesOnlyDifferingBuckets(t *testing.T) {
	eachEngine(t, testMerkleSyncCopiesOnlyDifferingBuckets)
}

func testMerkleSyncCopiesOnlyDifferingBuckets(t *testing.T, openTest opener) {
	ctx := context.Background()
	a := openTest(t, "a")
	b := openTest(t, "b")
	for i := range 2000 {
		op := put(fmt.Sprintf("key/%d", i), "same")
		if _, err := a.Write(ctx, op); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	// Diverge: a changes 5 keys and adds one; b has one key a lacks.
	for i := range 5 {
		if _, err := a.Write(ctx, put(fmt.Sprintf("key/%d", i*97), "new")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Write(ctx, put("only-a", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, put("only-b", "y")); err != nil {
		t.Fatal(err)
	}
	ha, hb := a.BucketHashes(), b.BucketHashes()
	var diff []int
	for i := range ha {
		if !bytes.Equal(ha[i], hb[i]) {
			diff = append(diff, i)
		}
	}
	if len(diff) == 0 || len(diff) > 7 {
		t.Fatalf("%d buckets differ, want 1..7", len(diff))
	}
	contents, err := a.BucketEntries(ctx, diff)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ReplaceBuckets(ctx, contents); err != nil {
		t.Fatal(err)
	}
	if ra, rb := a.Position().MerkleRoot, b.Position().MerkleRoot; ra != rb {
		t.Fatalf("roots differ after sync: %s vs %s", ra, rb)
	}
	if v, err := b.Get(ctx, "only-a"); err != nil || string(v) != "x" {
		t.Fatalf("only-a on b: %q %v", v, err)
	}
	if _, err := b.Get(ctx, "only-b"); err == nil {
		t.Fatal("only-b survived the sync")
	}
	// The rebuilt index agrees with the incremental one.
	if fixed, err := b.Reindex(ctx); err != nil || fixed != 0 {
		t.Fatalf("reindex after sync fixed %d buckets (err %v), want 0", fixed, err)
	}
}

func TestWipeKeepsLocalKeyspace(t *testing.T) { eachEngine(t, testWipeKeepsLocalKeyspace) }

func testWipeKeepsLocalKeyspace(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	empty := s.Position().MerkleRoot
	if _, err := s.Write(ctx, put("a", "1"), Op{Local: true, Key: "l", Value: []byte("keep")}); err != nil {
		t.Fatal(err)
	}
	changed := s.Notify()
	if err := s.Wipe(ctx, Op{Local: true, Key: "mode", Value: []byte("secondary")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("wipe did not notify")
	}
	if p := s.Position(); p.LastWAL != 0 || p.MerkleRoot != empty {
		t.Fatalf("after wipe: %+v", p)
	}
	if _, err := s.Get(ctx, "a"); err == nil {
		t.Fatal("replicated key survived the wipe")
	}
	for k, want := range map[string]string{"l": "keep", "mode": "secondary"} {
		if v, err := s.LocalGet(ctx, k); err != nil || string(v) != want {
			t.Fatalf("local %s = %q %v", k, v, err)
		}
	}
}

func TestTrimAndOldest(t *testing.T) { eachEngine(t, testTrimAndOldest) }

func testTrimAndOldest(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	for i := range 10 {
		if _, err := s.Write(ctx, put(fmt.Sprintf("k%d", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.TrimWAL(ctx, 6); err != nil || n != 6 {
		t.Fatalf("trim: %d %v", n, err)
	}
	if old, err := s.OldestWAL(ctx); err != nil || old != 7 {
		t.Fatalf("oldest = %d %v, want 7", old, err)
	}
	if _, ok, _ := s.WALEpochAt(ctx, 3); ok {
		t.Fatal("trimmed entry still there")
	}
	if s.Position().LastWAL != 10 {
		t.Fatal("trim moved the position")
	}
}
