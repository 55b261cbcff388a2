package replication

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Keys a DR secondary needs besides the replicated keyspace. A DR secondary
// is a copy of its whole cluster, but some of what a cluster is lives in
// its local keyspace, which the WAL never carries: its performance
// replication role (the set, its CA and keys, its secondaries and paths
// filters, or, on a performance secondary, the credentials that reach its
// primary) and, on a performance secondary, its own tokens and local
// mounts (core's split). The DR stream carries these "carried keys" beside
// the WAL: each heartbeat answer names a digest of them, and a secondary
// whose copy differs fetches them all (POST /dr/carried). It keeps them
// apart, under carriedShadowPrefix, as the stored bytes (still encrypted
// by the barrier), and installs them in its own local keyspace only when
// it is promoted: until then its own performance role stays as it was.

const (
	// carriedShadowPrefix is where a DR secondary keeps its primary's
	// carried keys (local keyspace), each under its own name.
	carriedShadowPrefix = "replication/dr/carried/keys/"
	// carriedDigestKey is the digest of the copy under carriedShadowPrefix;
	// absent until the first copy arrives (then promotion leaves the
	// local keyspace as it is).
	carriedDigestKey = "replication/dr/carried/digest"
	// maxCarriedBytes bounds one answer of /dr/carried.
	maxCarriedBytes = 64 << 20
	// carriedWalkBatch is how many keys one step of the walk reads.
	carriedWalkBatch = 512
	// A set of more than carriedSmallSet keys is scanned for heartbeats at
	// most every carriedScanEvery: on a performance secondary every applied
	// WAL batch may have moved them (the store's watches cannot tell), and
	// each scan reads every one of its tokens.
	carriedSmallSet  = 1000
	carriedScanEvery = 5 * time.Second
)

// carriedEntry is one carried key with its stored (encrypted) value.
type carriedEntry struct {
	Key   string `json:"k"`
	Value []byte `json:"v"`
}

// carriedAnswer is what /dr/carried answers.
type carriedAnswer struct {
	Digest  string         `json:"digest"`
	Entries []carriedEntry `json:"entries"`
}

// carriedCache keeps a DR primary's digest while none of its keys moved.
type carriedCache struct {
	mu     sync.Mutex
	gens   []*atomic.Uint64
	at     uint64
	valid  bool
	digest string
	keys   int       // how many keys the digest names
	when   time.Time // when it was computed
	// held is a DR secondary's digest of its copy ("" until known).
	held atomic.Pointer[string]
}

// carriedPrefixes are the local keys the DR stream carries: the
// performance role and whatever the cluster keeps local of its own
// (Options.OwnLocal: a performance secondary's tokens and local mounts).
func (m *Manager) carriedPrefixes() []string {
	return append([]string{PerformanceStateKey, KindPerformance.wrappingPrefix()}, m.opts.OwnLocal...)
}

// watchCarried registers the store watches the digest cache keys on.
func (m *Manager) watchCarried() {
	for _, p := range m.carriedPrefixes() {
		m.carried.gens = append(m.carried.gens, m.store.Watch(p))
	}
}

func (c *carriedCache) gen() uint64 {
	var sum uint64
	for _, g := range c.gens {
		sum += g.Load()
	}
	return sum
}

// readCarried lists this cluster's carried keys with their stored bytes.
func (m *Manager) readCarried(ctx context.Context) ([]carriedEntry, error) {
	var out []carriedEntry
	size := 0
	for _, prefix := range m.carriedPrefixes() {
		after := prefix
		if v, err := m.store.LocalGet(ctx, prefix); err == nil {
			out = append(out, carriedEntry{Key: prefix, Value: v})
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		for {
			keys, err := m.store.KeysAfter(ctx, true, after, carriedWalkBatch)
			if err != nil {
				return nil, err
			}
			done := len(keys) < carriedWalkBatch
			for _, k := range keys {
				if !strings.HasPrefix(k, prefix) {
					done = true
					break
				}
				after = k
				v, err := m.store.LocalGet(ctx, k)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					return nil, err
				}
				size += len(k) + len(v)
				if size > maxCarriedBytes {
					return nil, fmt.Errorf("the keys a DR secondary needs besides the WAL exceed %d MiB", maxCarriedBytes>>20)
				}
				out = append(out, carriedEntry{Key: k, Value: v})
			}
			if done || len(keys) == 0 {
				break
			}
		}
	}
	return out, nil
}

// carriedDigest names a set of carried entries: SHA-256 over each key and
// value with their lengths, in the order read (prefixes, then key order).
func carriedDigest(entries []carriedEntry) string {
	h := sha256.New()
	var n [8]byte
	for _, e := range entries {
		for _, b := range [][]byte{[]byte(e.Key), e.Value} {
			l := uint64(len(b))
			for i := range n {
				n[i] = byte(l >> (8 * i))
			}
			h.Write(n[:])
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// carriedDigestNow is this primary's digest, recomputed only when a
// carried key may have changed (and, for a large set, at most every
// carriedScanEvery unless fresh: status asks for a fresh one, so that a
// secondary showing the same digest holds every key written before).
func (m *Manager) carriedDigestNow(ctx context.Context, fresh bool) string {
	c := &m.carried
	c.mu.Lock()
	defer c.mu.Unlock()
	at := c.gen()
	if c.valid && c.at == at {
		return c.digest
	}
	if c.valid && !fresh && c.keys > carriedSmallSet && time.Since(c.when) < carriedScanEvery {
		return c.digest
	}
	entries, err := m.readCarried(ctx)
	if err != nil {
		m.log.Debug("read the keys DR secondaries need besides the WAL", "error", err)
		return ""
	}
	c.digest, c.at, c.valid = carriedDigest(entries), at, true
	c.keys, c.when = len(entries), time.Now()
	return c.digest
}

// serveCarried answers a DR secondary's fetch of the carried keys.
func (m *Manager) serveCarried(w http.ResponseWriter, r *http.Request, id string, _ *primaryRuntime) {
	if m.kind != KindDR {
		http.NotFound(w, r)
		return
	}
	entries, err := m.readCarried(r.Context())
	if err != nil {
		m.log.Error("read carried keys for secondary", "secondary_id", id, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if entries == nil {
		entries = []carriedEntry{}
	}
	writeJSON(w, carriedAnswer{Digest: carriedDigest(entries), Entries: entries})
}

// heldCarriedDigest is the digest of this DR secondary's copy.
func (m *Manager) heldCarriedDigest(ctx context.Context) string {
	if p := m.carried.held.Load(); p != nil {
		return *p
	}
	raw, err := m.store.LocalGet(ctx, carriedDigestKey)
	d := ""
	if err == nil {
		d = string(raw)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return ""
	}
	m.carried.held.Store(&d)
	return d
}

// syncCarried fetches the primary's carried keys when its digest differs
// from this DR secondary's copy, and replaces the copy in one write.
func (m *Manager) syncCarried(ctx context.Context, c *peerClient, digest string) {
	if m.kind != KindDR || digest == "" || digest == m.heldCarriedDigest(ctx) {
		return
	}
	var ans carriedAnswer
	if err := c.post(ctx, "/dr/carried", struct{}{}, &ans); err != nil {
		m.log.Info("could not fetch the primary's carried keys; retrying at the next heartbeat", "error", err)
		return
	}
	if carriedDigest(ans.Entries) != ans.Digest {
		m.log.Warn("the primary's carried keys do not match their digest; ignored")
		return
	}
	old, err := m.store.LocalList(ctx, carriedShadowPrefix)
	if err != nil {
		m.log.Warn("could not list the carried keys held", "error", err)
		return
	}
	keep := make(map[string]bool, len(ans.Entries))
	ops := make([]storage.Op, 0, len(ans.Entries)+len(old)+1)
	for _, e := range ans.Entries {
		keep[e.Key] = true
		ops = append(ops, storage.Op{Local: true, Key: carriedShadowPrefix + e.Key, Value: e.Value})
	}
	for _, k := range m.shadowKeys(ctx, old) {
		if !keep[k] {
			ops = append(ops, storage.Op{Local: true, Key: carriedShadowPrefix + k, Delete: true})
		}
	}
	ops = append(ops, storage.Op{Local: true, Key: carriedDigestKey, Value: []byte(ans.Digest)})
	if _, err := m.store.Write(ctx, ops...); err != nil {
		m.log.Warn("could not store the primary's carried keys", "error", err)
		return
	}
	d := ans.Digest
	m.carried.held.Store(&d)
	m.log.Debug("carried keys copied from the primary", "keys", len(ans.Entries))
}

// shadowKeys lists every key held under carriedShadowPrefix (relative to
// it), descending into folders from the first level's answer.
func (m *Manager) shadowKeys(ctx context.Context, first []string) []string {
	var out []string
	var walk func(rel string, children []string)
	walk = func(rel string, children []string) {
		for _, ch := range children {
			if strings.HasSuffix(ch, "/") {
				sub, err := m.store.LocalList(ctx, carriedShadowPrefix+rel+ch)
				if err == nil {
					walk(rel+ch, sub)
				}
				continue
			}
			out = append(out, rel+ch)
		}
	}
	walk("", first)
	return out
}

// installCarriedOps is what promotion writes so that this cluster takes its
// lost primary's place in the performance set too: every carried key of
// its own is replaced by the copy (the performance state keeps the set but
// advertises addr, this cluster's address), and the copy is dropped. It
// returns no ops when no copy ever arrived.
func (m *Manager) installCarriedOps(ctx context.Context, addr string) ([]storage.Op, error) {
	if m.kind != KindDR || m.heldCarriedDigest(ctx) == "" {
		return nil, nil
	}
	first, err := m.store.LocalList(ctx, carriedShadowPrefix)
	if err != nil {
		return nil, err
	}
	held := m.shadowKeys(ctx, first)
	own, err := m.readCarried(ctx)
	if err != nil {
		return nil, err
	}
	var ops []storage.Op
	for _, e := range own {
		ops = append(ops, storage.Op{Local: true, Key: e.Key, Delete: true})
	}
	for _, k := range held {
		v, err := m.store.LocalGet(ctx, carriedShadowPrefix+k)
		if err != nil {
			return nil, fmt.Errorf("read carried key %s: %w", k, err)
		}
		if k == PerformanceStateKey {
			if v, err = readvertise(v, addr); err != nil {
				return nil, err
			}
		}
		ops = append(ops,
			storage.Op{Local: true, Key: k, Value: v},
			storage.Op{Local: true, Key: carriedShadowPrefix + k, Delete: true})
	}
	ops = append(ops, storage.Op{Local: true, Key: carriedDigestKey, Delete: true})
	m.carried.held.Store(nil)
	return ops, nil
}

// readvertise rewrites a carried performance primary's state to advertise
// addr (the promoted cluster's cluster address) to new secondaries.
func readvertise(raw []byte, addr string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode the carried performance state: %w", err)
	}
	var mode string
	_ = json.Unmarshal(doc["mode"], &mode)
	if mode != ModePrimary {
		return raw, nil
	}
	a, err := json.Marshal(addr)
	if err != nil {
		return nil, err
	}
	doc["primary_cluster_addr"] = a
	return json.Marshal(doc)
}

// takeCarriedRole makes this cluster's performance Manager take the role
// just installed by a DR promotion.
func (m *Manager) takeCarriedRole(ctx context.Context) {
	peer := m.perfPeer.Load()
	if peer == nil {
		return
	}
	if err := peer.Resume(ctx); err != nil {
		m.log.Error("the promoted cluster could not take its performance replication role", "error", err)
		return
	}
	m.log.Info("promoted cluster took its lost primary's performance replication role", "performance_mode", peer.Mode())
}
