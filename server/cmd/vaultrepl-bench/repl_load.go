package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/node"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// benchKeyPrefix is where kvWriter's PUT secret/bench/<client>/<i> lands in
// the replicated keyspace (the secret/ mount's storage prefix).
const benchKeyPrefix = "logical/secret/bench/"

// replLoad is what one write load on a primary produced.
type replLoad struct {
	elapsed   time.Duration
	latencies []time.Duration // of 204 answers
	errors    int
	// acks[c][i] is when write i of client c (key bench/<c>/<i>) got its
	// 204, taken right after the answer was read; zero when it failed.
	acks [][]time.Time
}

func (l *replLoad) writes() int { return len(l.latencies) }

// runReplLoad has clients goroutines PUT secrets on n for d. rate 0 means
// flat out (each client sends its next write as soon as the last answered);
// otherwise sends are scheduled at rate writes/s in total: send k is due at
// begin + k/rate and goes to whichever client takes it, so the offered load
// holds even when single requests are slow (until all clients are busy).
func runReplLoad(ctx context.Context, o options, n *node.Node, clients int, d time.Duration, rate float64, label string) (replLoad, error) {
	stats := make([]workerStats, clients)
	acks := make([][]time.Time, clients)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var begin, deadline time.Time // written before start is closed, read after
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	var slot atomic.Int64
	for c := range clients {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			w := newKVWriter(n.APIAddr(), replRootToken, c)
			defer w.close()
			st := &stats[c]
			if _, msg := w.put(ctx, "warmup"); msg != "" {
				st.fail("warm-up: " + msg)
			}
			ready.Done()
			select {
			case <-start:
			case <-ctx.Done():
				return
			}
			for i := 0; ; i++ {
				if rate > 0 {
					at := begin.Add(time.Duration(slot.Add(1)-1) * interval)
					if !at.Before(deadline) {
						return
					}
					if wait := time.Until(at); wait > 0 {
						if sleepCtx(ctx, wait) != nil {
							return
						}
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				lat, msg := w.put(ctx, strconv.Itoa(i))
				ack := time.Now()
				if ctx.Err() != nil {
					return // interrupted: neither a write nor an error
				}
				if msg != "" {
					st.fail(msg)
					acks[c] = append(acks[c], time.Time{})
					continue
				}
				st.latencies = append(st.latencies, lat)
				acks[c] = append(acks[c], ack)
			}
		}()
	}
	ready.Wait()
	begin = time.Now()
	deadline = begin.Add(d)
	close(start)
	done.Wait()
	res := replLoad{elapsed: time.Since(begin), acks: acks}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	for c := range stats {
		res.latencies = append(res.latencies, stats[c].latencies...)
		res.errors += stats[c].errors
		for _, msg := range stats[c].samples {
			_, _ = fmt.Fprintf(o.stderr, "vaultrepl-bench: replication %s, client %d: %s\n", label, c, msg)
		}
	}
	return res, nil
}

// applyLog records, on a secondary, when its store's WAL position moved:
// at[k] is a time at which the secondary had durably applied every entry up
// to wal[k]. Both slices only grow.
type applyLog struct {
	at   []time.Time
	wal  []uint64
	stop chan struct{}
	done chan struct{}
}

// startApplyLog follows store's position until finish. Each round takes the
// notify channel before reading the position, so no move is missed, and
// stamps the time after reading it, so every entry up to the position read
// was applied no later than the stamp: the log errs late, by the wake-up
// latency of one goroutine (microseconds), never early.
func startApplyLog(ctx context.Context, store *storage.Store) *applyLog {
	l := &applyLog{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			changed := store.Notify()
			pos := store.Position().LastWAL
			now := time.Now()
			if len(l.wal) == 0 || pos > l.wal[len(l.wal)-1] {
				l.at = append(l.at, now)
				l.wal = append(l.wal, pos)
			}
			select {
			case <-changed:
			case <-l.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return l
}

// finish stops the log; only then may appliedAt be called.
func (l *applyLog) finish() {
	close(l.stop)
	<-l.done
}

// appliedAt is the first recorded time the secondary held WAL index idx.
func (l *applyLog) appliedAt(idx uint64) (time.Time, bool) {
	k := sort.Search(len(l.wal), func(k int) bool { return l.wal[k] >= idx })
	if k == len(l.wal) {
		return time.Time{}, false
	}
	return l.at[k], true
}

// benchWALIndexes maps every bench write after WAL index after to its WAL
// index by reading the primary's WAL: idx[c][i] is the index of key
// bench/<c>/<i> (0 when not found). Keys are unique per write, so the map is
// exact. It reads what retention kept: the WAL holds the newest 100000
// entries at least, far more than one measurement writes.
func benchWALIndexes(ctx context.Context, store *storage.Store, after uint64, acks [][]time.Time) ([][]uint64, error) {
	idx := make([][]uint64, len(acks))
	for c := range acks {
		idx[c] = make([]uint64, len(acks[c]))
	}
	for from := after; ; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		entries, err := store.WALSince(ctx, from, 4096)
		if err != nil {
			return nil, fmt.Errorf("read the primary's WAL: %w", err)
		}
		if len(entries) == 0 {
			return idx, nil
		}
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Key, benchKeyPrefix)
			if !ok {
				continue
			}
			cs, is, ok := strings.Cut(rest, "/")
			if !ok {
				continue
			}
			c, err1 := strconv.Atoi(cs)
			i, err2 := strconv.Atoi(is)
			if err1 != nil || err2 != nil || c < 0 || c >= len(idx) || i < 0 || i >= len(idx[c]) {
				continue // warm-up writes, other keys
			}
			idx[c][i] = e.Index
		}
		from = entries[len(entries)-1].Index
	}
}

// lagStats is the outcome of matching acknowledgements with applies.
type lagStats struct {
	lags      []time.Duration
	unmapped  int // acknowledged, but no WAL entry found on the primary
	unapplied int // never applied on the secondary before the log stopped
	beforeAck int // applied before the 204 reached the client (counted as 0)
}

func matchLags(load replLoad, idx [][]uint64, log *applyLog) lagStats {
	var s lagStats
	for c := range load.acks {
		for i, ack := range load.acks[c] {
			if ack.IsZero() {
				continue // failed write
			}
			if idx[c][i] == 0 {
				s.unmapped++
				continue
			}
			at, ok := log.appliedAt(idx[c][i])
			if !ok {
				s.unapplied++
				continue
			}
			lag := at.Sub(ack)
			if lag < 0 {
				s.beforeAck++
				lag = 0
			}
			s.lags = append(s.lags, lag)
		}
	}
	return s
}
