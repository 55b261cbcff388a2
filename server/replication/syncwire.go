package replication

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// A merkle-sync fetch answer is binary, not JSON: a bootstrap moves every
// key and value of the primary through it, and base64 inside JSON cost both
// sides more CPU than reading and inserting the rows. The answer is a
// sequence of bucket records, one per covered bucket in the order asked,
// ended by a zero:
//
//	record  = uvarint(bucket+1) uvarint(count) entry*count
//	entry   = uvarint(len(key)) key uvarint(len(value)) value
//	end     = uvarint(0)
//
// The primary writes each bucket as it reads it, so it never holds more
// than one read group of buckets.
const fetchContentType = "application/x-vaultrepl-buckets"

// Bounds a secondary applies while decoding, so a corrupt answer cannot make
// it allocate without limit: a key as the API allows, a value up to the
// request limit, an entry count that the bytes could not hold.
const (
	maxSyncKeyBytes   = 1 << 20
	maxSyncValueBytes = 64 << 20
	maxSyncBucketKeys = 1 << 24
)

// bucketGroupLimit bounds how many buckets the primary reads in one query;
// groups shrink when buckets are large so an answer stays near fetchBytes.
const bucketGroupLimit = 64

// streamBuckets reads the requested buckets in order, in groups, and hands
// each to emit until fetchBytes have been emitted (the bucket that passes
// the bound is the last; the first is emitted whatever its size).
func (m *Manager) streamBuckets(ctx context.Context, id string, buckets []int, emit func(b int, kvs []storage.KV) error) error {
	excluded, err := m.excludedFor(ctx, id)
	if err != nil {
		return err
	}
	var size int64
	covered := 0
	group := 1 // the first read learns how large buckets are
	for covered < len(buckets) && (covered == 0 || size < fetchBytes) {
		batch := buckets[covered:min(covered+group, len(buckets))]
		got, err := m.store.BucketEntries(ctx, batch)
		if err != nil {
			return err
		}
		for _, b := range batch {
			if covered > 0 && size >= fetchBytes {
				return nil
			}
			kept := keptKVs(got[b], excluded)
			for _, kv := range kept {
				size += int64(len(kv.Key) + len(kv.Value))
			}
			if err := emit(b, kept); err != nil {
				return err
			}
			covered++
		}
		// Read as many buckets next as fit in a quarter of what is left at
		// the average size so far.
		avg := max(size/int64(covered), 1)
		group = int(min(max((fetchBytes-size)/(4*avg), 1), bucketGroupLimit))
	}
	return nil
}

// writeBucketRecord appends one bucket record to w.
func writeBucketRecord(w *bufio.Writer, b int, kvs []storage.KV) error {
	var buf [binary.MaxVarintLen64]byte
	put := func(v uint64) {
		n := binary.PutUvarint(buf[:], v)
		_, _ = w.Write(buf[:n])
	}
	put(uint64(b) + 1)
	put(uint64(len(kvs)))
	for _, kv := range kvs {
		put(uint64(len(kv.Key)))
		_, _ = w.WriteString(kv.Key)
		put(uint64(len(kv.Value)))
		if _, err := w.Write(kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// writeBucketEnd ends an answer.
func writeBucketEnd(w *bufio.Writer) error {
	_ = w.WriteByte(0)
	return w.Flush()
}

var errBadBuckets = errors.New("malformed bucket answer")

// readBuckets decodes an answer to a fetch of chunk: the buckets must be a
// prefix of chunk, in order.
func readBuckets(r *bufio.Reader, chunk []int) (map[int][]storage.KV, error) {
	out := make(map[int][]storage.KV, len(chunk))
	for i := 0; ; i++ {
		tag, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadBuckets, err)
		}
		if tag == 0 {
			if i == 0 {
				return nil, fmt.Errorf("%w: no bucket covered", errBadBuckets)
			}
			return out, nil
		}
		if i >= len(chunk) || tag-1 != uint64(chunk[i]) { //nolint:gosec // bucket numbers are small and non-negative
			return nil, fmt.Errorf("%w: bucket %d not asked for at position %d", errBadBuckets, tag-1, i)
		}
		kvs, err := readBucketEntries(r)
		if err != nil {
			return nil, err
		}
		out[chunk[i]] = kvs
	}
}

func readBucketEntries(r *bufio.Reader) ([]storage.KV, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxSyncBucketKeys {
		return nil, fmt.Errorf("%w: entry count", errBadBuckets)
	}
	kvs := make([]storage.KV, 0, min(n, 4096))
	for range n {
		key, err := readSized(r, maxSyncKeyBytes)
		if err != nil {
			return nil, err
		}
		value, err := readSized(r, maxSyncValueBytes)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, storage.KV{Key: string(key), Value: value})
	}
	return kvs, nil
}

func readSized(r *bufio.Reader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > limit {
		return nil, fmt.Errorf("%w: length", errBadBuckets)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadBuckets, err)
	}
	return b, nil
}

// A range answer (POST /dr/sync/range {after}) holds the primary's rows
// after a key in key order, up to rangeBytes, then whether the keyspace
// ended:
//
//	row  = uvarint(len(key)+1) key uvarint(len(value)) value
//	end  = uvarint(0) done-byte (1: no rows after the last one)

// rangeRequest asks for the rows after a key.
type rangeRequest struct {
	After string `json:"after"`
}

func writeRangeAnswer(w *bufio.Writer, kvs []storage.KV, done bool) error {
	var buf [binary.MaxVarintLen64]byte
	put := func(v uint64) {
		n := binary.PutUvarint(buf[:], v)
		_, _ = w.Write(buf[:n])
	}
	for _, kv := range kvs {
		put(uint64(len(kv.Key)) + 1)
		_, _ = w.WriteString(kv.Key)
		put(uint64(len(kv.Value)))
		_, _ = w.Write(kv.Value)
	}
	put(0)
	end := byte(0)
	if done {
		end = 1
	}
	_ = w.WriteByte(end)
	return w.Flush()
}

// readRangeAnswer decodes a range answer; rows must come after `after`, in
// order, and a range that is not the last must hold a row.
func readRangeAnswer(r *bufio.Reader, after string) ([]storage.KV, bool, error) {
	var kvs []storage.KV
	prev := after
	for {
		tag, err := binary.ReadUvarint(r)
		if err != nil || tag > maxSyncKeyBytes+1 {
			return nil, false, fmt.Errorf("%w: row key", errBadBuckets)
		}
		if tag == 0 {
			break
		}
		key := make([]byte, tag-1)
		if _, err := io.ReadFull(r, key); err != nil {
			return nil, false, fmt.Errorf("%w: %w", errBadBuckets, err)
		}
		value, err := readSized(r, maxSyncValueBytes)
		if err != nil {
			return nil, false, err
		}
		if string(key) <= prev {
			return nil, false, fmt.Errorf("%w: rows out of key order", errBadBuckets)
		}
		prev = string(key)
		kvs = append(kvs, storage.KV{Key: prev, Value: value})
	}
	end, err := r.ReadByte()
	if err != nil || end > 1 {
		return nil, false, fmt.Errorf("%w: range end", errBadBuckets)
	}
	if end == 0 && len(kvs) == 0 {
		return nil, false, fmt.Errorf("%w: an empty range that is not the last", errBadBuckets)
	}
	return kvs, end == 1, nil
}
