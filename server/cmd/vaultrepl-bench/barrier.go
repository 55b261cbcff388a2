package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/barrier"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// barrierResult is the cost of encryption at rest on one KV write.
type barrierResult struct {
	ValueBytes int     `json:"value_bytes"`
	EncryptNS  float64 `json:"encrypt_ns"`
	DecryptNS  float64 `json:"decrypt_ns"`
	// PerWriteNS is what one PUT of the KV section spends in the barrier:
	// one encryption (the value) and two decryptions (the token record, the
	// existence read).
	PerWriteNS float64 `json:"per_write_ns"`
	// WriteP50MS is the single-client FULL-sync p50 of the kv_write section
	// (0 when it did not run); SharePct is PerWriteNS as a share of it.
	WriteP50MS float64 `json:"write_p50_ms"`
	SharePct   float64 `json:"share_pct"`
}

// barrierSection measures AES-256-GCM through the barrier (nonce, seal,
// open) on a value the size of the KV section's bodies, and relates it to
// the measured write latency.
func barrierSection() section {
	return section{
		id:   "barrier",
		name: "barrier (encryption at rest) share of a KV write",
		run: func(ctx context.Context, o options, r *report) (int, error) {
			res, err := measureBarrier(ctx, min(o.duration, 2*time.Second))
			if err != nil {
				return 0, err
			}
			for _, kv := range r.KVWrite {
				if kv.Sync == "full" && kv.Clients == 1 && kv.P50MS > 0 {
					res.WriteP50MS = kv.P50MS
					res.SharePct = 100 * res.PerWriteNS / (kv.P50MS * 1e6)
				}
			}
			r.Barrier = &res
			return 0, nil
		},
		table: func(w io.Writer, r *report) {
			b := r.Barrier
			if b == nil {
				return
			}
			_, _ = fmt.Fprintln(w, "value bytes\tencrypt ns\tdecrypt ns\tper write ns\twrite p50 ms\tshare %\t")
			_, _ = fmt.Fprintf(w, "%d\t%.0f\t%.0f\t%.0f\t%.2f\t%.3f\t\n", b.ValueBytes, b.EncryptNS, b.DecryptNS, b.PerWriteNS, b.WriteP50MS, b.SharePct)
		},
	}
}

func measureBarrier(ctx context.Context, d time.Duration) (res barrierResult, err error) {
	dir, err := os.MkdirTemp("", "vaultrepl-bench-barrier-")
	if err != nil {
		return res, fmt.Errorf("create temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	store, err := storage.Open(ctx, filepath.Join(dir, "b.db"), storage.Options{})
	if err != nil {
		return res, err
	}
	defer func() { _ = store.Close() }()
	bar := barrier.New(store, barrier.Options{})
	root := make([]byte, 32)
	if _, err := rand.Read(root); err != nil {
		return res, err
	}
	ops, err := bar.Initialize(root)
	if err != nil {
		return res, err
	}
	if _, err := store.Write(ctx, ops...); err != nil {
		return res, err
	}
	value := []byte(`{"value":"` + strings.Repeat("x", 88) + `"}`)
	ad := []byte("r:logical/secret/bench")
	res.ValueBytes = len(value)
	var ct []byte
	if res.EncryptNS, err = timePerOp(ctx, d/2, func() error {
		ct, err = bar.Encrypt(ctx, value, ad)
		return err
	}); err != nil {
		return res, err
	}
	if res.DecryptNS, err = timePerOp(ctx, d/2, func() error {
		_, err := bar.Decrypt(ctx, ct, ad)
		return err
	}); err != nil {
		return res, err
	}
	res.PerWriteNS = res.EncryptNS + 2*res.DecryptNS
	return res, nil
}

// timePerOp runs fn in batches until d has passed and returns ns per call.
func timePerOp(ctx context.Context, d time.Duration, fn func() error) (float64, error) {
	const batch = 1000
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		for range batch {
			if err := fn(); err != nil {
				return 0, err
			}
		}
		n += batch
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}
