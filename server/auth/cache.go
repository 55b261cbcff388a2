package auth

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Every request resolves a token and checks an ACL. Reading the token and
// the policies from SQLite and decoding their JSON each time cost more than
// the rest of the check, so both are cached in memory, invalidated by the
// store's change counters (storage.Store.Watch): any commit that writes a
// token or a policy, locally or replicated, empties the cache before the
// writer is answered. Expiry is still checked on every lookup.

// maxCached bounds each cache; when full it starts over (no recency to
// track, and a working set that large is rare).
const maxCached = 8192

// genCache maps keys to values read while a change counter held one value;
// it empties itself when the counter moves.
type genCache[V any] struct {
	gen *atomic.Uint64
	mu  sync.Mutex
	at  uint64
	m   map[string]V
}

func newGenCache[V any](gen *atomic.Uint64) *genCache[V] {
	return &genCache[V]{gen: gen, at: gen.Load(), m: map[string]V{}}
}

// get returns the cached value and the counter value to pass to put when
// the caller reads the key itself.
func (c *genCache[V]) get(key string) (v V, ok bool, gen uint64) {
	gen = c.gen.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at != gen {
		clear(c.m)
		c.at = gen
	}
	v, ok = c.m[key]
	return v, ok, gen
}

// drop forgets every cached value.
func (c *genCache[V]) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// put keeps v, read after get returned gen, unless something changed since.
func (c *genCache[V]) put(key string, v V, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at != gen || c.gen.Load() != gen {
		return
	}
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[key] = v
}

// watch is store.Watch(prefix), or a counter that never moves when there is
// no store (a Manager built for what needs none).
func watch(store storage.Data, prefix string) *atomic.Uint64 {
	if store == nil {
		return new(atomic.Uint64)
	}
	return store.Watch(prefix)
}

// copyToken is a token the caller may change without touching the cache.
func copyToken(t *Token) *Token {
	c := *t
	c.Policies = slices.Clone(t.Policies)
	c.Meta = maps.Clone(t.Meta)
	return &c
}

// policySetKey names a token's policy set in the ACL cache.
func policySetKey(policies []string) string { return strings.Join(policies, "\x00") }

// DropCaches forgets every decoded token and ACL held in memory: a sealed
// cluster keeps nothing it read through the barrier.
func (m *Manager) DropCaches() {
	m.tokens.drop()
	m.acls.drop()
}
