package replication

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// writeInNewBucket writes key=value and returns the bucket it landed in,
// which must be one no earlier write touched.
func writeInNewBucket(t *testing.T, s *storage.Store, taken map[int]bool, key string, value []byte) int {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		k := key + strconv.Itoa(i)
		before := s.BucketHashes()
		if _, err := s.Write(ctx, storage.Op{Key: k, Value: value}); err != nil {
			t.Fatal(err)
		}
		after := s.BucketHashes()
		for b := range before {
			if !bytes.Equal(before[b], after[b]) && !taken[b] {
				taken[b] = true
				return b
			}
		}
		if i > 50 {
			t.Fatal("no free bucket found")
		}
	}
}

// TestByteBoundedReads: WAL frames and merkle-sync fetch answers stop at
// their byte limits, and always hold at least one entry or bucket however
// large.
func TestByteBoundedReads(t *testing.T) {
	ctx := context.Background()
	s, err := storage.Open(ctx, filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	taken := map[int]bool{}
	small1 := writeInNewBucket(t, s, taken, "small-a", []byte("1"))
	big := writeInNewBucket(t, s, taken, "big", bytes.Repeat([]byte("x"), fetchBytes+1))
	small2 := writeInNewBucket(t, s, taken, "small-b", []byte("2"))

	// WAL: small, big, small (one write each) with a 4 MiB frame limit.
	var from uint64
	var frames [][]uint64
	for {
		entries, err := s.WALSinceBytes(ctx, from, walFrameLimit, walFrameBytes)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			break
		}
		var idx []uint64
		for _, e := range entries {
			idx = append(idx, e.Index)
		}
		frames = append(frames, idx)
		from = entries[len(entries)-1].Index
	}
	if len(frames) != 3 || len(frames[1]) != 1 {
		t.Fatalf("frames %v: want the large entry alone between the small ones", frames)
	}

	m := &Manager{store: s}
	ans, err := m.fetchBuckets(ctx, "b", []int{big, small1, small2})
	if err != nil {
		t.Fatal(err)
	}
	if ans.Covered != 1 || len(ans.Entries) != 1 || len(ans.Entries[big]) != 1 {
		t.Fatalf("fetch starting with the large bucket covered %d (%d buckets), want only it", ans.Covered, len(ans.Entries))
	}
	ans, err = m.fetchBuckets(ctx, "b", []int{small1, small2, big, 4095})
	if err != nil {
		t.Fatal(err)
	}
	if ans.Covered != 3 || len(ans.Entries) != 3 {
		t.Fatalf("fetch of small buckets then the large one covered %d, want 3 (it stops after the limit is passed)", ans.Covered)
	}
}
