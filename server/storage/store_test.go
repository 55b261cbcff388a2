package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// opener opens the store called name in the engine under test (the same
// name again reopens it): a file in a test folder for SQLite, a table
// prefix in the test's own database for PostgreSQL.
type opener func(t *testing.T, name string) *Store

// eachEngine runs a test once per storage engine.
func eachEngine(t *testing.T, test func(t *testing.T, openTest opener)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		test(t, func(t *testing.T, name string) *Store {
			t.Helper()
			if name == "" {
				name = "cluster"
			}
			return openSQLiteTest(t, filepath.Join(dir, name+".db"))
		})
	})
	t.Run("postgresql", func(t *testing.T) {
		url := testserver.PostgresURL(t)
		test(t, func(t *testing.T, name string) *Store {
			t.Helper()
			if name == "" {
				name = "cluster"
			}
			s, err := OpenPostgres(context.Background(), PostgresConfig{ConnURL: url, TablePrefix: name + "_"}, Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		})
	})
}

func openSQLiteTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func put(key, value string) Op { return Op{Key: key, Value: []byte(value)} }

func TestWriteGetDelete(t *testing.T) { eachEngine(t, testWriteGetDelete) }

func testWriteGetDelete(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of missing key: got %v, want ErrNotFound", err)
	}
	idx, err := s.Write(ctx, put("a", "1"), put("b", "2"))
	if err != nil || idx != 2 {
		t.Fatalf("Write: index %d err %v, want 2 <nil>", idx, err)
	}
	v, err := s.Get(ctx, "a")
	if err != nil || string(v) != "1" {
		t.Fatalf("Get a = %q, %v", v, err)
	}
	if idx, err = s.Write(ctx, Op{Key: "a", Delete: true}); err != nil || idx != 3 {
		t.Fatalf("delete: index %d err %v, want 3", idx, err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	// Deleting what is not there changes nothing and must not move the WAL.
	if _, err = s.Write(ctx, Op{Key: "nope", Delete: true}); err != nil {
		t.Fatal(err)
	}
	if got := s.Position().LastWAL; got != 3 {
		t.Fatalf("LastWAL after no-op delete = %d, want 3", got)
	}
}

func TestLocalKeyspaceIsNotReplicated(t *testing.T) { eachEngine(t, testLocalKeyspaceIsNotReplicated) }

func testLocalKeyspaceIsNotReplicated(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	before := s.Position()
	if _, err := s.Write(ctx, Op{Local: true, Key: "dr/state", Value: []byte("primary")}); err != nil {
		t.Fatal(err)
	}
	after := s.Position()
	if after != before {
		t.Fatalf("local write moved the replicated position: %+v -> %+v", before, after)
	}
	if v, err := s.LocalGet(ctx, "dr/state"); err != nil || string(v) != "primary" {
		t.Fatalf("LocalGet = %q, %v", v, err)
	}
	if _, err := s.Get(ctx, "dr/state"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("local key visible in replicated keyspace: %v", err)
	}
}

func TestList(t *testing.T) { eachEngine(t, testList) }

func testList(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	for _, k := range []string{"secret/a", "secret/b/c", "secret/b/d", "secret/b/e/f", "secret/c", "secrets", "other/x"} {
		if _, err := s.Write(ctx, put(k, "v")); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"secret/", []string{"a", "b/", "c"}},
		{"secret/b/", []string{"c", "d", "e/"}},
		{"", []string{"other/", "secret/", "secrets"}},
		{"missing/", nil},
	}
	for _, tc := range tests {
		got, err := s.List(ctx, tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

// The merkle root is a function of the data alone: the same keyspace reached
// by different histories has the same root, and it survives a restart.
func TestMerkleRootDependsOnlyOnData(t *testing.T) { eachEngine(t, testMerkleRootDependsOnlyOnData) }

func testMerkleRootDependsOnlyOnData(t *testing.T, openTest opener) {
	ctx := context.Background()
	a := openTest(t, "a")
	b := openTest(t, "b")
	empty := a.Position().MerkleRoot
	if len(empty) != 40 {
		t.Fatalf("root %q is not 40 hex characters", empty)
	}
	for i := range 50 {
		if _, err := a.Write(ctx, put(fmt.Sprintf("k%d", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 49; i >= 0; i-- {
		if _, err := b.Write(ctx, put(fmt.Sprintf("k%d", i), "old"), Op{Key: "tmp", Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(ctx, put(fmt.Sprintf("k%d", i), "v"), Op{Key: "tmp", Delete: true}); err != nil {
			t.Fatal(err)
		}
	}
	ra, rb := a.Position().MerkleRoot, b.Position().MerkleRoot
	if ra != rb || ra == empty {
		t.Fatalf("roots differ for equal data (or did not move): a=%s b=%s empty=%s", ra, rb, empty)
	}
	if _, err := a.Write(ctx, put("k1", "changed")); err != nil {
		t.Fatal(err)
	}
	if a.Position().MerkleRoot == rb {
		t.Fatal("root did not change when a value changed")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openTest(t, "b")
	if got := reopened.Position(); got.MerkleRoot != rb || got.LastWAL != 200 {
		t.Fatalf("after reopen: %+v, want root %s and last WAL 200", got, rb)
	}
}

// Concurrent writers share commits; every acknowledged write is readable and
// the WAL indexes handed out are distinct.
func TestConcurrentWritesAreGroupCommitted(t *testing.T) {
	eachEngine(t, testConcurrentWritesAreGroupCommitted)
}

func testConcurrentWritesAreGroupCommitted(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	const writers, each = 16, 50
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				idx, err := s.Write(ctx, put(fmt.Sprintf("w%d/%d", w, i), "v"))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if seen[idx] {
					errs <- fmt.Errorf("index %d handed out twice", idx)
				}
				seen[idx] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := s.Position().LastWAL; got != writers*each {
		t.Fatalf("LastWAL = %d, want %d", got, writers*each)
	}
	for w := range writers {
		keys, err := s.List(ctx, fmt.Sprintf("w%d/", w))
		if err != nil || len(keys) != each {
			t.Fatalf("writer %d: %d keys (%v), want %d", w, len(keys), err, each)
		}
	}
}

func TestWriteAfterClose(t *testing.T) { eachEngine(t, testWriteAfterClose) }

func testWriteAfterClose(t *testing.T, openTest opener) {
	s := openTest(t, "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(context.Background(), put("a", "b")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}
}

func TestEmptyKeyRejected(t *testing.T) { eachEngine(t, testEmptyKeyRejected) }

func testEmptyKeyRejected(t *testing.T, openTest opener) {
	s := openTest(t, "")
	if _, err := s.Write(context.Background(), put("", "b")); err == nil {
		t.Fatal("empty key accepted")
	}
}

// TestMerkleViewMatchesIndex: BucketHash and MerkleRoot over a store's own
// entries give exactly the incremental index's hashes and root.
func TestMerkleViewMatchesIndex(t *testing.T) { eachEngine(t, testMerkleViewMatchesIndex) }

func testMerkleViewMatchesIndex(t *testing.T, openTest opener) {
	ctx := context.Background()
	s := openTest(t, "")
	for i := range 50 {
		if _, err := s.Write(ctx, Op{Key: fmt.Sprintf("k/%d", i), Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Write(ctx, Op{Key: "k/7", Delete: true}); err != nil {
		t.Fatal(err)
	}
	all := make([]int, NumBuckets)
	for i := range all {
		all[i] = i
	}
	got, err := s.BucketEntries(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	want := s.BucketHashes()
	hashes := make([][]byte, NumBuckets)
	for b := range NumBuckets {
		hashes[b] = BucketHash(got[b])
		if !bytes.Equal(hashes[b], want[b]) {
			t.Fatalf("bucket %d: %x, index has %x", b, hashes[b], want[b])
		}
	}
	if r := MerkleRoot(hashes); r != s.Position().MerkleRoot {
		t.Fatalf("root %s, index has %s", r, s.Position().MerkleRoot)
	}
}

func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }
