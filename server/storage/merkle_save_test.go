package storage

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A store that stops without writing its merkle table (a crash, or an HA
// node losing its lock) leaves the buckets changed since the last save to
// the next opener, which recomputes them from the data: same root, and a
// reindex finds nothing wrong.
func TestMerkleTableCatchesUp(t *testing.T) { eachEngine(t, testMerkleTableCatchesUp) }

func testMerkleTableCatchesUp(t *testing.T, openTest opener) {
	ctx := context.Background()
	first := openTest(t, "m")
	// The first commit writes the table (a new database has no merkle_wal);
	// with a long interval the later ones leave it behind.
	if _, err := first.Write(ctx, put("seed", "0")); err != nil {
		t.Fatal(err)
	}
	first.saved.every = time.Hour
	for i := range 40 {
		if _, err := first.Write(ctx, put(fmt.Sprintf("k%d", i), "v"), Op{Key: "seed", Delete: i == 39}); err != nil {
			t.Fatal(err)
		}
	}
	want := first.Position()
	if first.saved.upTo >= want.LastWAL || len(first.saved.dirty) == 0 {
		t.Fatalf("the table was written up to %d with %d buckets pending, want it behind %d", first.saved.upTo, len(first.saved.dirty), want.LastWAL)
	}
	// A second store on the same database sees the table as the first one
	// left it, as after a crash of the first.
	second := openTest(t, "m")
	got := second.Position()
	if got.MerkleRoot != want.MerkleRoot || got.LastWAL != want.LastWAL {
		t.Fatalf("second opener: %+v, want %+v", got, want)
	}
	if len(second.saved.dirty) == 0 {
		t.Fatal("the second opener recomputed no bucket")
	}
	if fixed, err := second.Reindex(ctx); err != nil || fixed != 0 {
		t.Fatalf("reindex after catching up: %d buckets fixed, %v", fixed, err)
	}
	// The reindex wrote the table; a third opener needs to recompute nothing.
	third := openTest(t, "m")
	if got := third.Position(); got.MerkleRoot != want.MerkleRoot || len(third.saved.dirty) != 0 {
		t.Fatalf("third opener: root %s with %d buckets recomputed, want %s and none", got.MerkleRoot, len(third.saved.dirty), want.MerkleRoot)
	}
}

// Concurrent writes to a few keys share batches, so one batch often holds
// several changes of one key (and PostgreSQL reads the batch's previous
// values up front): the incremental hashes must still match the data.
func TestMerkleSameKeyInOneBatch(t *testing.T) { eachEngine(t, testMerkleSameKeyInOneBatch) }

func testMerkleSameKeyInOneBatch(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			var err error
			for i := 0; i < 60 && err == nil; i++ {
				key := fmt.Sprintf("k%d", (w+i)%3)
				_, err = s.Write(ctx, Op{Key: key, Value: []byte(fmt.Sprint(w, i)), Delete: i%7 == 6})
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if fixed, err := s.Reindex(ctx); err != nil || fixed != 0 {
		t.Fatalf("reindex: %d buckets were wrong, %v", fixed, err)
	}
}

// A secondary's applied WAL batches leave the merkle table and the meta
// rows behind as plain writes do (one save a second, not one per batch):
// a store opened after a crash takes the position from the WAL rows and
// recomputes the buckets of their keys, matching the first store.
func TestAppliedBatchesCatchUp(t *testing.T) { eachEngine(t, testAppliedBatchesCatchUp) }

func testAppliedBatchesCatchUp(t *testing.T, openTest opener) {
	ctx := context.Background()
	first := openTest(t, "a")
	if err := first.ApplyRemote(ctx, []WALEntry{{Index: 1, Epoch: 1, Key: "seed", Value: []byte("0"), CreatedAt: 1}}); err != nil {
		t.Fatal(err)
	}
	first.saved.every = time.Hour
	idx := uint64(2)
	for b := range 20 {
		var batch []WALEntry
		for i := range 3 {
			batch = append(batch, WALEntry{Index: idx, Epoch: 2, Key: fmt.Sprintf("k%d-%d", b, i), Value: []byte("v"), CreatedAt: int64(idx)})
			idx++
		}
		if b == 19 {
			batch = append(batch, WALEntry{Index: idx, Epoch: 2, Key: "seed", Delete: true, CreatedAt: int64(idx)})
		}
		if err := first.ApplyRemote(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	want := first.Position()
	if want.LastWAL != idx || want.LastEpoch != 2 {
		t.Fatalf("position after the applies: %+v, want WAL %d epoch 2", want, idx)
	}
	if first.saved.upTo >= want.LastWAL || len(first.saved.dirty) == 0 {
		t.Fatalf("applies wrote the table up to %d with %d buckets pending, want it behind %d", first.saved.upTo, len(first.saved.dirty), want.LastWAL)
	}
	second := openTest(t, "a")
	got := second.Position()
	if got.MerkleRoot != want.MerkleRoot || got.LastWAL != want.LastWAL || got.LastEpoch != want.LastEpoch {
		t.Fatalf("second opener: %+v, want %+v", got, want)
	}
	if fixed, err := second.Reindex(ctx); err != nil || fixed != 0 {
		t.Fatalf("reindex after catching up: %d buckets fixed, %v", fixed, err)
	}
}
