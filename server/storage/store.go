// Package storage keeps one cluster's data in a database (a SQLite file, the
// embedded default, or PostgreSQL): the replicated keyspace (with its
// write-ahead log and merkle index, all changed in the same transaction) and
// the local keyspace that never leaves the cluster. It knows nothing of
// HTTP, seals or replication roles, and callers do not know the engine.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"
)

// ErrNotFound is returned by Get and LocalGet for a key that does not exist.
var ErrNotFound = errors.New("key not found")

// ErrClosed is returned by writes submitted after Close.
var ErrClosed = errors.New("storage is closed")

// SyncMode selects SQLite's synchronous setting.
type SyncMode int

const (
	// SyncFull makes every acknowledged commit survive power loss.
	SyncFull SyncMode = iota
	// SyncNormal may lose the last commits on power loss (never on a process
	// crash) in exchange for fewer fsyncs.
	SyncNormal
)

// ParseSyncMode reads "full" or "normal".
func ParseSyncMode(s string) (SyncMode, error) {
	switch strings.ToLower(s) {
	case "", "full":
		return SyncFull, nil
	case "normal":
		return SyncNormal, nil
	}
	return 0, fmt.Errorf("unknown synchronous mode %q: use full or normal", s)
}

func (m SyncMode) String() string {
	if m == SyncNormal {
		return "NORMAL"
	}
	return "FULL"
}

// Options configure a Store.
type Options struct {
	Sync SyncMode
	// MaxBatch bounds how many concurrent writes share one commit; 0 means 256.
	MaxBatch int
	Logger   *slog.Logger
	// Now stamps WAL entries; nil means time.Now.
	Now func() time.Time
	// AllowInsecurePermissions opens a database (or -wal/-shm) that group
	// or others may read or write; by default Open refuses it. A new
	// database is created 0600 either way.
	AllowInsecurePermissions bool
}

// Op is one change. Local ops touch the local keyspace (never replicated);
// the others touch the replicated keyspace and each gets a WAL entry.
type Op struct {
	Local  bool
	Delete bool
	Key    string
	Value  []byte
}

// Position is where the replicated keyspace stands.
type Position struct {
	Epoch      uint64 // stamped on new local writes
	LastWAL    uint64 // newest WAL index
	LastEpoch  uint64 // epoch of the newest WAL entry: (LastEpoch, LastWAL) names a point in history
	MerkleRoot string
}

// Store is one cluster's database. All writes go through the commit loop,
// which groups concurrent writes into shared transactions so that
// durability costs one fsync per batch rather than one per request.
type Store struct {
	db  engine
	log *slog.Logger
	now func() time.Time

	maxBatch int
	requests chan *writeRequest
	stop     chan struct{}
	done     chan struct{}

	closeOnce sync.Once
	closeMu   sync.RWMutex // held for reading while submitting, for writing by Close
	closed    bool

	watchList // caches' change counters (watch.go)

	mu        sync.Mutex // guards the fields below, changed only after a commit
	epoch     uint64     // stamped on new local writes
	last      uint64     // newest WAL index
	lastEpoch uint64     // epoch of the newest WAL entry
	merkle    *merkleIndex
	notify    chan struct{} // closed when the position moves
	recent    recentWAL     // newest committed entries (walring.go)

	saved merkleSaved // what the stored merkle table holds (merkle_save.go); commit loop only
	// metaRows is what the meta rows last_wal, epoch and last_epoch hold
	// (they move with the merkle table, not with every commit); commit
	// loop only.
	metaRows [3]uint64
}

type writeRequest struct {
	ops []Op
	// fn, when set, runs instead of ops (replication's bulk changes).
	fn func(ctx context.Context, w *batchWriter) error
	// relaxed requests may commit with synchronous=NORMAL: what they write
	// can be fetched again from elsewhere if a power loss takes it.
	relaxed bool
	// walOnly says fn changes keys only through setKey, each with its WAL
	// entry after it (a secondary's applied WAL batch). Like plain writes,
	// such a batch leaves the merkle table and the meta rows to the next
	// save: its WAL rows carry the position, and the keys of entries after
	// merkle_wal are recomputed after a crash (merkle_save.go).
	walOnly bool
	// reload, when set, runs alone between transactions (an HA takeover
	// re-reading the position the previous active node moved).
	reload func(ctx context.Context) error
	result chan writeResult
}

type writeResult struct {
	index uint64
	err   error
}

// Open opens or creates the SQLite database at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open storage: empty database path")
	}
	opts = opts.withDefaults()
	db, err := openSQLite(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	return start(ctx, db, opts)
}

func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// start loads the position from an open engine and starts the commit loop;
// it closes db when it fails.
func start(ctx context.Context, db engine, opts Options) (*Store, error) {
	s := &Store{
		db:       db,
		log:      opts.Logger,
		now:      opts.Now,
		maxBatch: opts.MaxBatch,
		requests: make(chan *writeRequest, opts.MaxBatch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := s.load(ctx); err != nil {
		_ = db.close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// load reads the durable position and merkle buckets into memory.
func (s *Store) load(ctx context.Context) error {
	var err error
	if s.epoch, err = s.metaValue(ctx, "epoch"); err != nil {
		return err
	}
	if s.last, err = s.metaValue(ctx, "last_wal"); err != nil {
		return err
	}
	if s.lastEpoch, err = s.metaValue(ctx, "last_epoch"); err != nil {
		return err
	}
	s.metaRows = [3]uint64{s.last, s.epoch, s.lastEpoch}
	// A plain commit does not write the meta rows (see finish): its WAL
	// rows say how far the position moved.
	newest, newestEpoch, found, err := s.db.newestWAL(ctx)
	if err != nil {
		return err
	}
	if found && newest > s.last {
		s.last, s.lastEpoch = newest, newestEpoch
	}
	s.notify = make(chan struct{})
	s.merkle = newMerkleIndex()
	if err := s.db.eachBucket(ctx, s.merkle.setBucket); err != nil {
		return fmt.Errorf("load merkle index: %w", err)
	}
	return s.catchUpMerkle(ctx)
}

func (s *Store) metaValue(ctx context.Context, name string) (uint64, error) {
	v, _, err := s.db.metaValue(ctx, name)
	return v, err
}

// Close finishes the writes already submitted, refuses new ones and closes
// the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		close(s.stop)
		<-s.done
		err = s.db.close()
	})
	return err
}

// Write commits ops atomically and returns the WAL index of the newest
// replicated entry once the commit is durable. Concurrent calls share commits.
// A write whose context ends after it was queued may still commit.
func (s *Store) Write(ctx context.Context, ops ...Op) (uint64, error) {
	for _, op := range ops {
		if op.Key == "" {
			return 0, errors.New("write: empty key")
		}
	}
	return s.submit(ctx, &writeRequest{ops: ops, result: make(chan writeResult, 1)})
}

// submit queues a request for the commit loop and waits for its outcome.
func (s *Store) submit(ctx context.Context, req *writeRequest) (uint64, error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case s.requests <- req:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return 0, fmt.Errorf("queue write: %w", ctx.Err())
	}
	select {
	case r := <-req.result:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("wait for commit: %w", ctx.Err())
	}
}

// commitLoop owns the writing transaction. It takes whatever writes are waiting
// (up to maxBatch) and commits them together.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*writeRequest, 0, s.maxBatch)
	var g gatherer
	for {
		queued := len(s.requests) > 0
		select {
		case req := <-s.requests:
			batch = append(batch[:0], req)
		case <-s.stop:
			g.stop()
			// Close holds closeMu, so nothing new arrives: commit what is queued.
			for {
				select {
				case req := <-s.requests:
					s.commit([]*writeRequest{req})
				default:
					s.closeMerkle()
					return
				}
			}
		}
		batch = s.drain(batch)
		batch = g.gather(s, batch, queued)
		start := time.Now()
		s.commit(batch)
		g.done(len(batch), hasFn(batch), time.Since(start))
	}
}

// drain adds the queued requests to batch, up to maxBatch.
func (s *Store) drain(batch []*writeRequest) []*writeRequest {
	for len(batch) < s.maxBatch {
		select {
		case req := <-s.requests:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

// maxGather bounds how long a batch waits for the writers of the previous
// one (see gatherer).
const maxGather = time.Millisecond

// gatherer lets a batch wait briefly for the writers the previous commit
// just answered. Without it, concurrent writers split into two cohorts
// that alternate: one commits while the other, answered by the commit
// before, comes back with its next write. Each commit costs the same
// fixed work (on SQLite FULL, the fsync and its kernel I/O path, the
// largest share of a write's CPU), so two half batches cost nearly twice
// what one full batch does. The batch waits until it holds as many plain
// writes as the previous batch plus what was already queued (or, when the
// loop had been idle, as many as the previous batch), for at most half the
// previous commit's duration and maxGather: a lone writer never waits
// (its previous batch was itself), and bulk requests never do.
type gatherer struct {
	last     int           // size of the previous batch of plain writes (0 after a bulk one)
	lastTook time.Duration // how long the previous commit took
	timer    *time.Timer
}

func (g *gatherer) done(size int, bulk bool, took time.Duration) {
	g.last, g.lastTook = size, took
	if bulk {
		g.last = 0
	}
}

func (g *gatherer) gather(s *Store, batch []*writeRequest, queued bool) []*writeRequest {
	target := g.last
	if queued {
		target += len(batch)
	}
	target = min(target, s.maxBatch)
	wait := min(g.lastTook/2, maxGather)
	if len(batch) >= target || wait <= 0 || hasFn(batch) {
		return batch
	}
	if g.timer == nil {
		g.timer = time.NewTimer(wait)
	} else {
		g.timer.Reset(wait)
	}
	for len(batch) < target {
		select {
		case req := <-s.requests:
			batch = append(batch, req)
			if req.fn != nil {
				g.timer.Stop()
				return s.drain(batch)
			}
		case <-g.timer.C:
			return s.drain(batch)
		case <-s.stop:
			// Commit what is here; the loop sees stop next.
			g.timer.Stop()
			return batch
		}
	}
	g.timer.Stop()
	return s.drain(batch)
}

func (g *gatherer) stop() {
	if g.timer != nil {
		g.timer.Stop()
	}
}

// commit runs one transaction for the batch. Each request gets a savepoint so
// that one failing request does not fail the others.
func (s *Store) commit(batch []*writeRequest) {
	ctx := context.Background()
	batch = s.runReloads(ctx, batch)
	if len(batch) == 0 {
		return
	}
	results := make([]writeResult, len(batch))
	fail := func(err error) {
		for _, req := range batch {
			req.result <- writeResult{err: err}
		}
	}
	tx, err := s.db.begin(ctx, allRelaxed(batch))
	if err != nil {
		fail(fmt.Errorf("begin commit of %d writes: %w", len(batch), err))
		return
	}
	s.mu.Lock()
	epoch, last, lastEpoch := s.epoch, s.last, s.lastEpoch
	s.mu.Unlock()
	w := &batchWriter{tx: tx, merkle: s.merkle, changed: map[int][]byte{}, epoch: epoch, next: last + 1, lastEpoch: lastEpoch, stamp: s.now().UnixNano(),
		stored: s.metaRows, saved: &s.saved, bulk: hasBulkFn(batch)}
	if err := w.prefetch(ctx, batch); err != nil {
		_ = tx.rollback(ctx)
		fail(fmt.Errorf("read previous values of %d writes: %w", len(batch), err))
		return
	}
	for i, req := range batch {
		idx, err := w.apply(ctx, req)
		if err != nil && req.fn == nil {
			// Plain writes run without a savepoint (they fail only when
			// the database does), so none of the batch may commit.
			_ = tx.rollback(ctx)
			fail(err)
			return
		}
		results[i] = writeResult{index: idx, err: err}
	}
	if err := w.finish(ctx); err != nil {
		_ = tx.rollback(ctx)
		fail(err)
		return
	}
	if err := tx.commit(ctx); err != nil {
		fail(fmt.Errorf("commit %d writes: %w", len(batch), err))
		return
	}
	s.saved.committed(w)
	if w.wroteMeta {
		s.metaRows = [3]uint64{w.next - 1, w.epoch, w.lastEpoch}
	}
	s.bumpWatches(batch)
	s.mu.Lock()
	advanced := w.next-1 != s.last
	if w.reset || hasFn(batch) || w.tooLarge {
		// Bulk changes may rewrite or drop WAL entries; an entry too large
		// to keep leaves a gap the tail must not hide.
		s.recent.clear()
	} else {
		s.recent.add(w.appended)
	}
	s.last = w.next - 1
	s.epoch = w.epoch
	s.lastEpoch = w.lastEpoch
	if w.reset {
		s.merkle.buckets = [NumBuckets][hashSize]byte{}
	}
	for bucket, hash := range w.changed {
		s.merkle.buckets[bucket] = [hashSize]byte(hash)
	}
	s.merkle.dirty = true
	current := s.last
	notify := s.notify
	if advanced || w.reset {
		s.notify = make(chan struct{})
	}
	s.mu.Unlock()
	if advanced || w.reset {
		close(notify)
	}
	for i, req := range batch {
		if results[i].err == nil && results[i].index == 0 {
			results[i].index = current
		}
		req.result <- results[i]
	}
}

// runReloads runs the batch's reload requests and returns the others.
func (s *Store) runReloads(ctx context.Context, batch []*writeRequest) []*writeRequest {
	rest := batch[:0]
	for _, req := range batch {
		if req.reload == nil {
			rest = append(rest, req)
			continue
		}
		req.result <- writeResult{err: req.reload(ctx)}
	}
	return rest
}

func hasFn(batch []*writeRequest) bool {
	for _, r := range batch {
		if r.fn != nil {
			return true
		}
	}
	return false
}

// hasBulkFn says the batch has a function request that may change keys
// other than through WAL entries (see writeRequest.walOnly).
func hasBulkFn(batch []*writeRequest) bool {
	for _, r := range batch {
		if r.fn != nil && !r.walOnly {
			return true
		}
	}
	return false
}

func allRelaxed(batch []*writeRequest) bool {
	for _, r := range batch {
		if !r.relaxed {
			return false
		}
	}
	return true
}

// batchWriter accumulates one transaction's WAL entries and merkle changes.
type batchWriter struct {
	tx        engineTx
	merkle    *merkleIndex
	changed   map[int][]byte // bucket -> hash as of this transaction
	reset     bool           // every bucket was emptied (a wipe) before changed applies
	epoch     uint64         // epoch stamped on new local writes
	next      uint64         // WAL index the next replicated op gets
	lastEpoch uint64         // epoch of the newest WAL entry
	stamp     int64
	saves     int
	appended  []WALEntry // this transaction's entries, for Store.recent
	tooLarge  bool       // an entry was too large for Store.recent
	// stored is what the meta rows held when the batch began (last_wal,
	// epoch, last_epoch): finish writes only the rows that changed, and
	// only when the batch writes the merkle table or is a bulk change.
	stored [3]uint64
	// saved is the stored merkle table's state; bulk says the batch has
	// function requests, which change the keyspace without (only) WAL
	// entries, so the batch writes the merkle table (merkle_save.go).
	saved     *merkleSaved
	bulk      bool
	wroteTree bool // finish wrote the merkle table and merkle_wal
	wroteMeta bool // finish brought the meta rows up to date
	// prior holds the current value of every key the batch writes, read
	// in one query up front by an engine where each read is a round trip
	// (prefetcher); nil otherwise, and setKey reads each key itself.
	prior map[string]priorValue
}

// priorValue is a key's value as of the batch so far.
type priorValue struct {
	value  []byte
	exists bool
}

// prefetcher is an engine transaction that reads many keys' values in one
// round trip (PostgreSQL). SQLite's reads are calls, not round trips: it
// reads key by key (one SELECT ... IN over a batch's keys cost it more CPU).
type prefetcher interface {
	getKVs(ctx context.Context, keys []string) (map[string][]byte, error)
}

// prefetch reads the previous values of a batch of plain writes at once.
// Batches with function requests read key by key: those may change keys
// in ways (a wipe, a bucket replaced) the map would not follow.
func (w *batchWriter) prefetch(ctx context.Context, batch []*writeRequest) error {
	p, ok := w.tx.(prefetcher)
	if !ok || hasFn(batch) {
		return nil
	}
	var keys []string
	for _, req := range batch {
		for _, op := range req.ops {
			if !op.Local {
				keys = append(keys, op.Key)
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	found, err := p.getKVs(ctx, keys)
	if err != nil {
		return err
	}
	w.prior = make(map[string]priorValue, len(keys))
	for _, k := range keys {
		v, ok := found[k]
		w.prior[k] = priorValue{value: v, exists: ok}
	}
	return nil
}

// previous is a key's value before the write being applied.
func (w *batchWriter) previous(ctx context.Context, key string) ([]byte, bool, error) {
	if p, ok := w.prior[key]; ok {
		return p.value, p.exists, nil
	}
	return w.tx.getKV(ctx, key)
}

func (w *batchWriter) bucketHash(bucket int) []byte {
	if h, ok := w.changed[bucket]; ok {
		return h
	}
	if w.reset {
		return make([]byte, hashSize)
	}
	h := w.merkle.buckets[bucket]
	return h[:]
}

// apply runs one request and returns the WAL index of its last replicated op
// (0 when it had none). Requests with a function run inside a savepoint: a
// failed one leaves the transaction and the batch's in-memory state as they
// were before it. Plain writes skip that cost; they fail only when SQLite
// does, and then the caller abandons the whole batch.
func (w *batchWriter) apply(ctx context.Context, req *writeRequest) (uint64, error) {
	if req.fn == nil {
		return w.applyOps(ctx, req.ops)
	}
	w.saves++
	if err := w.tx.savepoint(ctx); err != nil {
		return 0, fmt.Errorf("savepoint: %w", err)
	}
	saved := *w
	saved.changed = maps.Clone(w.changed)
	fail := func(err error) (uint64, error) {
		_ = w.tx.rollbackTo(ctx)
		_ = w.tx.release(ctx)
		saves := w.saves
		*w = saved
		w.saves = saves
		return 0, err
	}
	if err := req.fn(ctx, w); err != nil {
		return fail(err)
	}
	lastIdx, err := w.applyOps(ctx, req.ops)
	if err == nil {
		// What the request queued fails here, where it can be undone, not
		// in the release or a later request.
		err = w.tx.flush(ctx)
	}
	if err != nil {
		return fail(err)
	}
	if err := w.tx.release(ctx); err != nil {
		return 0, fmt.Errorf("release savepoint: %w", err)
	}
	return lastIdx, nil
}

// applyOps applies ops in order and returns the WAL index of the last
// replicated one (0 when there was none).
func (w *batchWriter) applyOps(ctx context.Context, ops []Op) (uint64, error) {
	var lastIdx uint64
	for _, op := range ops {
		idx, err := w.applyOp(ctx, op)
		if err != nil {
			return 0, err
		}
		if idx != 0 {
			lastIdx = idx
		}
	}
	return lastIdx, nil
}

func (w *batchWriter) applyOp(ctx context.Context, op Op) (uint64, error) {
	if op.Local {
		var err error
		if op.Delete {
			err = w.tx.deleteLocal(ctx, op.Key)
		} else {
			err = w.tx.putLocal(ctx, op.Key, op.Value)
		}
		if err != nil {
			return 0, fmt.Errorf("write local key: %w", err)
		}
		return 0, nil
	}
	changed, err := w.setKey(ctx, op.Key, op.Value, op.Delete)
	if err != nil || !changed {
		return 0, err // deleting what is not there changes nothing to replicate
	}
	idx := w.next
	if err := w.appendWAL(ctx, WALEntry{Index: idx, Epoch: w.epoch, Delete: op.Delete, Key: op.Key, Value: op.Value, CreatedAt: w.stamp}); err != nil {
		return 0, err
	}
	return idx, nil
}

// setKey changes one replicated key and its merkle bucket. It reports false
// for a delete of a key that does not exist.
func (w *batchWriter) setKey(ctx context.Context, key string, value []byte, del bool) (bool, error) {
	old, existed, err := w.previous(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read previous value: %w", err)
	}
	if del && !existed {
		return false, nil
	}
	bucket := bucketOf(key)
	hash := append([]byte(nil), w.bucketHash(bucket)...)
	if existed {
		xorInto(hash, entryHash(key, old))
	}
	if del {
		err = w.tx.deleteKV(ctx, key)
	} else {
		xorInto(hash, entryHash(key, value))
		err = w.tx.putKV(ctx, key, value, bucket)
	}
	if err != nil {
		return false, fmt.Errorf("write key: %w", err)
	}
	if w.prior != nil {
		w.prior[key] = priorValue{value: value, exists: !del}
	}
	w.changed[bucket] = hash
	return true, nil
}

// appendWAL records one entry and moves the batch's position past it.
func (w *batchWriter) appendWAL(ctx context.Context, e WALEntry) error {
	if err := w.tx.appendWAL(ctx, e); err != nil {
		return fmt.Errorf("append WAL entry %d: %w", e.Index, err)
	}
	w.next = e.Index + 1
	w.lastEpoch = e.Epoch
	if entrySize(e) > recentWALBytes {
		// Too large for the in-memory tail: streams read it from the table,
		// and no copy of a value of many MiB is made only to be dropped.
		w.tooLarge = true
		return nil
	}
	e.Value = keepValue(e.Value)
	w.appended = append(w.appended, e)
	return nil
}

// finish persists the position changed by the batch, and the merkle
// buckets when it is their turn (merkle_save.go).
func (w *batchWriter) finish(ctx context.Context) error {
	if err := w.saveMerkle(ctx); err != nil {
		return err
	}
	if !w.wroteTree && !w.bulk {
		// A plain batch's position is in its WAL rows (load reads the
		// newest), so it leaves the meta rows, one more page per commit,
		// to the next merkle save. Bulk changes (which may drop or
		// renumber WAL rows) write them.
		return nil
	}
	w.wroteMeta = true
	for i, v := range [3]uint64{w.next - 1, w.epoch, w.lastEpoch} {
		if v == w.stored[i] {
			continue // the row already holds it (most batches move last_wal only)
		}
		name := [3]string{"last_wal", "epoch", "last_epoch"}[i]
		if err := w.tx.setMeta(ctx, name, v); err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
	}
	return nil
}

// Get reads a replicated key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	return s.db.get(ctx, false, key)
}

// LocalGet reads a local key.
func (s *Store) LocalGet(ctx context.Context, key string) ([]byte, error) {
	return s.db.get(ctx, true, key)
}

// List returns the immediate children of prefix in the replicated keyspace,
// relative to prefix and sorted; a child that has children of its own ends
// with "/" (Vault's LIST semantics).
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	return s.list(ctx, false, prefix)
}

// LocalList is List over the local keyspace.
func (s *Store) LocalList(ctx context.Context, prefix string) ([]string, error) {
	return s.list(ctx, true, prefix)
}

// list walks the children in key order and skips over each folder's
// contents with a fresh range query, so a folder with many keys costs one
// row, not all of them.
func (s *Store) list(ctx context.Context, local bool, prefix string) ([]string, error) {
	var out []string
	from := prefix
	end := prefixEnd(prefix)
	for {
		key, ok, err := s.db.firstKey(ctx, local, from, end)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, err)
		}
		if !ok {
			return out, nil
		}
		rest := key[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			folder := rest[:i+1]
			out = append(out, folder)
			from = prefixEnd(prefix + folder)
			if from == "" {
				return out, nil
			}
			continue
		}
		out = append(out, rest)
		from = key + "\x00"
	}
}

// prefixEnd is the smallest string greater than every string with the prefix,
// or "" when there is none.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// LastWAL is the newest WAL index: Position without the merkle root, whose
// hash over every bucket a commit invalidates, for callers on the apply path.
func (s *Store) LastWAL() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Position returns the epoch, newest WAL index and merkle root.
func (s *Store) Position() Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Position{Epoch: s.epoch, LastWAL: s.last, LastEpoch: s.lastEpoch, MerkleRoot: s.merkle.root()}
}
