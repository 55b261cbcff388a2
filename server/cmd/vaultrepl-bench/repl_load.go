package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchKeyPrefix is where kvWriter's PUT secret/bench/<client>/<i> lands in
// the replicated keyspace (the secret/ mount's storage prefix).
const benchKeyPrefix = "logical/secret/bench/"

// replLoad is what one write load on a server produced.
type replLoad struct {
	elapsed   time.Duration
	latencies []time.Duration // of 204 answers
	errors    int
	// acks[c][i] is when write i of client c (key <prefix><c>/<i>) got its
	// 204, taken right after the answer was read; zero when it failed.
	acks [][]time.Time
	// serverCPU is the server process's CPU time over the measured window
	// (0 when loadSpec.pid is 0); peerCPU the same for loadSpec.peerPid.
	serverCPU, peerCPU time.Duration
	// treeCPU is the CPU time of loadSpec.tree and its children (0 without).
	treeCPU time.Duration
}

func (l *replLoad) writes() int { return len(l.latencies) }

// loadSpec describes one write load.
type loadSpec struct {
	apiAddr, token string
	prefix         string // mount-relative path under which client c writes <c>/<i>, e.g. "secret/bench/"
	clients        int
	duration       time.Duration
	rate           float64 // writes/s in total; 0 = flat out
	pid            int     // server process whose CPU is measured; 0 = none
	peerPid        int     // a second server process measured (a performance primary behind pid); 0 = none
	tree           int     // a process measured with its children (PostgreSQL's postmaster); 0 = none
	label          string  // for error samples
}

// runLoad has s.clients goroutines of this process PUT secrets for
// s.duration. Rate 0 means flat out (each client sends its next write as
// soon as the last answered); otherwise sends are scheduled at rate writes/s
// in total: send k is due at begin + k/rate and goes to whichever client
// takes it, so the offered load holds even when single requests are slow
// (until all clients are busy).
func runLoad(ctx context.Context, o options, s loadSpec) (replLoad, error) {
	clients := s.clients
	stats := make([]workerStats, clients)
	acks := make([][]time.Time, clients)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var begin, deadline time.Time // written before start is closed, read after
	var interval time.Duration
	if s.rate > 0 {
		interval = time.Duration(float64(time.Second) / s.rate)
	}
	var slot atomic.Int64
	for c := range clients {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			w := newKVWriter(s.apiAddr, s.token, s.prefix, c)
			defer w.close()
			st := &stats[c]
			// A warm-up write opens the keep-alive connection and fails fast
			// on a wrong token or route, outside the measured window.
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
				if s.rate > 0 {
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
	var cpu, peer, tree *cpuMeter
	if s.tree != 0 {
		tree = startChildrenCPU(s.tree)
	}
	if s.pid != 0 {
		cpu = startCPU(s.pid)
	}
	if s.peerPid != 0 {
		peer = startCPU(s.peerPid)
	}
	begin = time.Now()
	deadline = begin.Add(s.duration)
	close(start)
	done.Wait()
	// Throughput is over the real elapsed time, which includes the requests
	// still in flight when the deadline passed; so is the CPU.
	res := replLoad{elapsed: time.Since(begin), acks: acks}
	if cpu != nil {
		used, err := cpu.used()
		if err != nil {
			return res, err
		}
		res.serverCPU = used
	}
	if peer != nil {
		used, err := peer.used()
		if err != nil {
			return res, err
		}
		res.peerCPU = used
	}
	if tree != nil {
		used, err := tree.used()
		if err != nil {
			return res, err
		}
		res.treeCPU = used
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	for c := range stats {
		res.latencies = append(res.latencies, stats[c].latencies...)
		res.errors += stats[c].errors
		for _, msg := range stats[c].samples {
			_, _ = fmt.Fprintf(o.stderr, "vaultrepl-bench: %s, client %d: %s\n", s.label, c, msg)
		}
	}
	return res, nil
}

// applyLog records when a secondary's durable WAL position moved: at[k] is
// a time at which the secondary had committed every entry up to wal[k].
// Both slices only grow.
type applyLog struct {
	at   []time.Time
	wal  []uint64
	err  error // why the log stopped early, if it did
	stop chan struct{}
	done chan struct{}
}

// applyPoll is how often the apply log reads the secondary's position. It
// bounds how late an apply is stamped; the reads cost this process's CPU,
// not the servers'.
const applyPoll = 200 * time.Microsecond

// startApplyLog follows the position a secondary server process commits to
// its database file (meta.last_wal and the WAL rows, written in the same
// transaction as the entries), reading it through a read-only connection of this process every
// applyPoll. Every stamp is taken after the read that saw the position, so
// the log errs late by at most one poll plus one read, never early: both
// clocks are this host's.
func startApplyLog(ctx context.Context, db walDB) *applyLog {
	l := &applyLog{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(applyPoll)
		defer t.Stop()
		for {
			pos, err := db.lastWAL(ctx)
			now := time.Now()
			if err != nil {
				l.err = err
				return
			}
			if len(l.wal) == 0 || pos > l.wal[len(l.wal)-1] {
				l.at = append(l.at, now)
				l.wal = append(l.wal, pos)
			}
			select {
			case <-t.C:
			case <-l.stop:
				l.final(ctx, db)
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return l
}

// final takes one more reading when the log is stopped, so an apply that
// landed since the last tick (caughtUp saw it) is not counted as never
// applied; its stamp errs late like every other.
func (l *applyLog) final(ctx context.Context, db walDB) {
	pos, err := db.lastWAL(ctx)
	if err != nil {
		l.err = err
		return
	}
	if len(l.wal) == 0 || pos > l.wal[len(l.wal)-1] {
		l.at = append(l.at, time.Now())
		l.wal = append(l.wal, pos)
	}
}

// finish stops the log; only then may appliedAt be called.
func (l *applyLog) finish() error {
	close(l.stop)
	<-l.done
	return l.err
}

// appliedAt is the first recorded time the secondary held WAL index idx.
func (l *applyLog) appliedAt(idx uint64) (time.Time, bool) {
	k := sort.Search(len(l.wal), func(k int) bool { return l.wal[k] >= idx })
	if k == len(l.wal) {
		return time.Time{}, false
	}
	return l.at[k], true
}

// walDB is this process's read-only view of one server's database: its
// committed WAL position and the WAL index of each bench write. SQLite
// (sqliteWAL) and PostgreSQL (pgWAL) servers each have one, so the lag
// machinery is the same for both engines.
type walDB interface {
	// lastWAL is the newest WAL index the server has committed.
	lastWAL(ctx context.Context) (uint64, error)
	// benchWALIndexes maps every bench write after WAL index after to its
	// WAL index (see benchWALIndexes).
	benchWALIndexes(ctx context.Context, after uint64, acks [][]time.Time) ([][]uint64, error)
	close() error
}

// sqliteWAL is a walDB on a server's SQLite file.
type sqliteWAL struct{ db *sql.DB }

func (w sqliteWAL) lastWAL(ctx context.Context) (uint64, error) { return dbLastWAL(ctx, w.db) }

func (w sqliteWAL) benchWALIndexes(ctx context.Context, after uint64, acks [][]time.Time) ([][]uint64, error) {
	return benchWALIndexes(ctx, w.db, after, acks)
}

func (w sqliteWAL) close() error { return w.db.Close() }

// openServerDB opens a server's database file read-only from this process
// (SQLite in WAL mode lets readers in other processes see each commit).
func openServerDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", fmt.Sprintf("file:%s?mode=ro&_busy_timeout=10000&_query_only=1", path))
	if err != nil {
		return nil, fmt.Errorf("open %s read-only: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// dbLastWAL reads the newest committed WAL index of a server's database:
// the newer of meta.last_wal and the newest WAL row. A primary's plain
// commits leave meta.last_wal to the once-a-second merkle save (their WAL
// rows carry the position); a secondary's applies write both in the
// transaction that applies the entries. Both reads are one statement, so
// one snapshot.
func dbLastWAL(ctx context.Context, db *sql.DB) (uint64, error) {
	var v int64
	err := db.QueryRowContext(ctx, `SELECT max(
	coalesce((SELECT value FROM meta WHERE name = 'last_wal'), 0),
	coalesce((SELECT max(idx) FROM wal), 0))`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read last_wal: %w", err)
	}
	return uint64(v), nil
}

// benchWALIndexes maps every bench write after WAL index after to its WAL
// index by reading the primary's WAL table: idx[c][i] is the index of key
// bench/<c>/<i> (0 when not found). Keys are unique per write, so the map is
// exact. It reads what retention kept: the WAL holds the newest 100000
// entries at least, far more than one measurement writes.
func benchWALIndexes(ctx context.Context, db *sql.DB, after uint64, acks [][]time.Time) ([][]uint64, error) {
	idx := newBenchIndexes(acks)
	rows, err := db.QueryContext(ctx, `SELECT idx, key FROM wal WHERE idx > ? AND key >= ? AND key < ? ORDER BY idx`,
		int64(after), benchKeyPrefix, benchKeyPrefix[:len(benchKeyPrefix)-1]+"0")
	if err != nil {
		return nil, fmt.Errorf("read the primary's WAL: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var index int64
		var key string
		if err := rows.Scan(&index, &key); err != nil {
			return nil, fmt.Errorf("read the primary's WAL: %w", err)
		}
		setBenchIndex(idx, key, index)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the primary's WAL: %w", err)
	}
	return idx, nil
}

// newBenchIndexes is an all-zero index map shaped like acks.
func newBenchIndexes(acks [][]time.Time) [][]uint64 {
	idx := make([][]uint64, len(acks))
	for c := range acks {
		idx[c] = make([]uint64, len(acks[c]))
	}
	return idx
}

// setBenchIndex records that the WAL entry at index wrote key, when key is
// bench write bench/<c>/<i> of the map; other keys are ignored.
func setBenchIndex(idx [][]uint64, key string, index int64) {
	rest, ok := strings.CutPrefix(key, benchKeyPrefix)
	if !ok {
		return
	}
	cs, is, ok := strings.Cut(rest, "/")
	if !ok {
		return
	}
	c, err1 := strconv.Atoi(cs)
	i, err2 := strconv.Atoi(is)
	if err1 != nil || err2 != nil || c < 0 || c >= len(idx) || i < 0 || i >= len(idx[c]) {
		return // warm-up writes, other keys
	}
	idx[c][i] = uint64(index)
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

// bootKey is the mount-relative path of bootstrap key i: loadKeys spreads
// the keys over replClients clients, client c writing boot/<c>/<i/clients>.
func bootKey(i int) string {
	return "boot/" + strconv.Itoa(i%replClients) + "/" + strconv.Itoa(i/replClients)
}

// bootKeys are the storage keys of n bootstrap keys in key order, as
// measureBulkInsert inserts them.
func bootKeys(n int) []string {
	keys := make([]string, n)
	for i := range n {
		keys[i] = "logical/secret/" + bootKey(i)
	}
	slices.Sort(keys)
	return keys
}

// loadKeys writes n keys (secret/boot/...) to a server over HTTP with
// replClients clients and fails on the first error of each client.
func loadKeys(ctx context.Context, apiAddr string, n int) error {
	errs := make([]error, replClients)
	var wg sync.WaitGroup
	for c := range replClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newKVWriter(apiAddr, replRootToken, "secret/boot/", c)
			defer w.close()
			for i := c; i < n; i += replClients {
				if _, msg := w.put(ctx, strconv.Itoa(i/replClients)); msg != "" {
					errs[c] = fmt.Errorf("PUT secret/%s: %s", bootKey(i), msg)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
