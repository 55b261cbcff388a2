package storage

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
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
