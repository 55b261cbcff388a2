package storage

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// BenchmarkGroupCommit is concurrent single-key writes sharing commits
// through the commit loop (issue 12):
//
//	go test ./server/storage/ -run '^$' -bench GroupCommit -benchmem
//
// NORMAL sync, so it measures the loop's CPU rather than fsyncs.
func BenchmarkGroupCommit(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "cluster.db"), Options{Sync: SyncNormal})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	value := []byte(`{"value":"` + strings.Repeat("x", 64) + `"}`)
	var n atomic.Int64
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8) // 16 writers on 2 CPUs, like the bench's clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Write(ctx, Op{Key: "logical/secret/bench/" + strconv.FormatInt(n.Add(1), 10), Value: value}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGroupCommitFull is BenchmarkGroupCommit with FULL sync (what
// the server runs): an fsync per batch, so batches are as large as the
// bench's. It reports the process's CPU time per write (cpu-us/write:
// getrusage user+system over the run, the 16 writer goroutines included),
// the storage share of the server's CPU per write:
//
//	go test ./server/storage/ -run '^$' -bench GroupCommitFull -benchtime 5000x
func BenchmarkGroupCommitFull(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "cluster.db"), Options{Sync: SyncFull})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	value := []byte(`{"value":"` + strings.Repeat("x", 64) + `"}`)
	var n atomic.Int64
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	before := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Write(ctx, Op{Key: "logical/secret/bench/" + strconv.FormatInt(n.Add(1), 10), Value: value}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-us/write")
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommitBatch16 commits batches of exactly 16 single-key writes
// (the bench's 16 clients all in one batch) through Store.commit, so the
// CPU per write does not move with how the writers happened to batch;
// cpu-us/write is getrusage user+system over the run:
//
//	go test ./server/storage/ -run '^$' -bench CommitBatch16 -benchtime 400x
//
// The postgresql case runs on the test binary's throwaway server (fsync
// off): ns/op is then mostly round trips and the backend's statements.
func BenchmarkCommitBatch16(b *testing.B) {
	open := func(b *testing.B, mode SyncMode) (*Store, error) {
		return Open(context.Background(), filepath.Join(b.TempDir(), "cluster.db"), Options{Sync: mode})
	}
	benchCommitBatch16(b, "FULL", SyncFull, open)
	benchCommitBatch16(b, "NORMAL", SyncNormal, open)
	benchCommitBatch16(b, "postgresql", SyncFull, func(b *testing.B, mode SyncMode) (*Store, error) {
		return OpenPostgres(context.Background(), PostgresConfig{ConnURL: testserver.PostgresURL(b)}, Options{Sync: mode})
	})
}

func benchCommitBatch16(b *testing.B, name string, mode SyncMode, open func(*testing.B, SyncMode) (*Store, error)) {
	{
		b.Run(name, func(b *testing.B) {
			s, err := open(b, mode)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			value := []byte(`{"value":"` + strings.Repeat("x", 64) + `"}`)
			batch := make([]*writeRequest, 16)
			n := 0
			b.ReportAllocs()
			before := cpuTime(b)
			b.ResetTimer()
			for range b.N {
				for i := range batch {
					n++
					batch[i] = &writeRequest{ops: []Op{{Key: "logical/secret/bench/" + strconv.Itoa(n), Value: value}}, result: make(chan writeResult, 1)}
				}
				s.commit(batch)
				for _, req := range batch {
					if r := <-req.result; r.err != nil {
						b.Fatal(r.err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(16*b.N), "cpu-us/write")
		})
	}
}
