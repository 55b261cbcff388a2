// Package mounts is the secrets-engine mount table: which engine serves which
// path prefix and where its data lives. The table is one key in the
// replicated keyspace, so DR secondaries follow every enable, tune, move and
// disable, and a promoted secondary serves the same mounts.
package mounts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// tableKey holds the JSON mount table in the replicated keyspace. Until the
// first change the key is absent and the table is defaultTable.
const tableKey = "core/mounts"

// localTableKey holds, in the local keyspace, the mounts a performance
// secondary made for itself (local mounts): its primary's stream owns
// tableKey there. LocalPrefix is where local mounts keep their data, so
// that a performance secondary can keep that data local too.
const (
	localTableKey = "core/local-mounts"
	LocalPrefix   = "logical-local/"
)

// MaxMounts bounds the mount table; every request scans it for the longest
// matching prefix, and Vault's own table is rarely more than a few hundred.
const MaxMounts = 1000

// MaxPathLength bounds a mount path, in bytes.
const MaxPathLength = 512

// Bounds on what one entry may carry: every request decodes the table, so
// it must stay small.
const (
	MaxDescriptionLength = 4096
	MaxOptions           = 32
	MaxOptionLength      = 1024
)

// deleteBatch is how many keys one storage write removes when a mount's data
// is deleted: big enough to be quick, small enough to keep commits short.
const deleteBatch = 256

// Engine types.
const (
	TypeKV     = "kv"
	TypeSystem = "system"
	TypeToken  = "token"
)

// Config is a mount's tunable configuration (times in seconds).
type Config struct {
	DefaultLeaseTTL   int64  `json:"default_lease_ttl"`
	MaxLeaseTTL       int64  `json:"max_lease_ttl"`
	ForceNoCache      bool   `json:"force_no_cache"`
	ListingVisibility string `json:"listing_visibility,omitempty"`
}

// Entry is one mount.
type Entry struct {
	Path                  string            `json:"path"` // e.g. "secret/", always with the trailing slash
	Type                  string            `json:"type"`
	Description           string            `json:"description"`
	Accessor              string            `json:"accessor"`
	UUID                  string            `json:"uuid"`
	Local                 bool              `json:"local"` // kept for performance replication; DR copies every mount
	SealWrap              bool              `json:"seal_wrap"`
	ExternalEntropyAccess bool              `json:"external_entropy_access"`
	Options               map[string]string `json:"options"`
	Config                Config            `json:"config"`
	// Prefix is where the engine's keys live in the replicated keyspace. It
	// does not change when the mount moves, so a remount copies nothing.
	Prefix string `json:"prefix"`
	// Builtin mounts (sys/, auth/token/) are not in the stored table.
	Builtin bool `json:"-"`
	// Table is "mounts" or "auth" (Vault's name for the auth method table).
	Table string `json:"-"`
	// InLocalTable: the entry is one of a performance secondary's own
	// mounts, kept under localTableKey.
	InLocalTable bool `json:"-"`
}

// KVVersion is 2 for a versioned KV mount and 1 for every other kv mount.
func (e *Entry) KVVersion() int {
	if e.Type == TypeKV && e.Options["version"] == "2" {
		return 2
	}
	return 1
}

// defaultTable is the table of a cluster that never changed it: the KV v1
// mount at secret/ whose keys have always lived under logical/secret/.
func defaultTable() []Entry {
	return []Entry{{
		Path:        "secret/",
		Type:        TypeKV,
		Description: "key/value secret storage",
		Accessor:    "kv_5ec7e7f1",
		UUID:        "3f9e4f4c-3a51-4d6b-8b8e-5ec7e7f15ec7",
		Options:     map[string]string{"version": "1"},
		Prefix:      "logical/secret/",
	}}
}

// builtins are the mounts this server serves from code, listed for clients
// that ask which mount encloses a path (sys/internal/ui/mounts).
var builtins = []Entry{
	{Path: "sys/", Type: TypeSystem, Description: "system endpoints used for control, policy and debugging", Accessor: "system_5ec7e7f1", UUID: "b3a5c1f0-7f43-4c3e-9b7c-0c5f1a0e5e01", Builtin: true, Table: "mounts"},
	{Path: "auth/token/", Type: TypeToken, Description: "token based credentials", Accessor: "auth_token_5ec7e7f1", UUID: "b3a5c1f0-7f43-4c3e-9b7c-0c5f1a0e5e02", Builtin: true, Table: "auth"},
}

// SystemMount is the built-in sys/ entry, which sys/mounts lists as Vault does.
func SystemMount() Entry { return builtins[0] }

// TokenAuthMount is the built-in auth/token/ entry, which sys/auth lists.
func TokenAuthMount() Entry { return builtins[1] }

// protected prefixes cannot be mounted, moved or tuned (as Vault).
var protected = []string{"audit/", "auth/", "sys/", "cubbyhole/", "identity/"}

// Table reads and changes the mount table.
type Table struct {
	store storage.Data
	moves moveLog
	// mu makes every change (read-modify-write of the table, data deletion)
	// exclusive and lets requests on a mount hold it shared, so a disable
	// never races a write into the mount being deleted.
	mu sync.RWMutex
	// localOnly says this cluster is a performance secondary.
	localOnly func() bool

	// Every request matches its path against the table: the decoded table
	// is kept while the store's change counters for the replicated and
	// the local table stand still (and the cluster's role with them).
	gen, localGen   *atomic.Uint64
	cacheMu         sync.Mutex
	cached          []Entry // read-only once stored; callers get copies
	cachedAt        [2]uint64
	cachedLocalOnly bool
	hasCache        bool
}

// New returns the table kept in store.
func New(store storage.Data) *Table {
	return &Table{store: store, gen: store.Watch(tableKey), localGen: store.Watch(localTableKey)}
}

// SetLocalOnly tells the table when this cluster is a performance
// secondary: it then hides its primary's local mounts, lists its own, and
// changes only those (every other change is its primary's).
func (t *Table) SetLocalOnly(f func() bool) { t.localOnly = f }

func (t *Table) isLocalOnly() bool { return t.localOnly != nil && t.localOnly() }

// ownLocal reads a performance secondary's own mounts.
func (t *Table) ownLocal(ctx context.Context) ([]Entry, error) {
	raw, err := t.store.LocalGet(ctx, localTableKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read local mount table: %w", err)
	}
	var entries []Entry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("decode local mount table: %w", err)
	}
	for i := range entries {
		entries[i].Table, entries[i].InLocalTable = "mounts", true
	}
	return entries, nil
}

// RLock is held by a request while it uses a mount it matched.
func (t *Table) RLock() { t.mu.RLock() }

// RUnlock releases RLock.
func (t *Table) RUnlock() { t.mu.RUnlock() }

// List returns the stored mounts, sorted by path.
func (t *Table) List(ctx context.Context) ([]Entry, error) {
	entries, err := t.shared(ctx)
	if err != nil {
		return nil, err
	}
	return cloneEntries(entries), nil
}

// shared returns the table from the cache, reading it when the stored one
// may have changed. The result must not be modified.
func (t *Table) shared(ctx context.Context) ([]Entry, error) {
	at := [2]uint64{t.gen.Load(), t.localGen.Load()}
	localOnly := t.isLocalOnly()
	t.cacheMu.Lock()
	if t.hasCache && t.cachedAt == at && t.cachedLocalOnly == localOnly {
		entries := t.cached
		t.cacheMu.Unlock()
		return entries, nil
	}
	t.cacheMu.Unlock()
	entries, err := t.read(ctx, localOnly)
	if err != nil {
		return nil, err
	}
	t.cacheMu.Lock()
	if [2]uint64{t.gen.Load(), t.localGen.Load()} == at {
		t.cached, t.cachedAt, t.cachedLocalOnly, t.hasCache = entries, at, localOnly, true
	}
	t.cacheMu.Unlock()
	return entries, nil
}

func cloneEntries(entries []Entry) []Entry {
	out := make([]Entry, len(entries))
	for i, e := range entries {
		out[i] = cloneEntry(e)
	}
	return out
}

func cloneEntry(e Entry) Entry {
	e.Options = maps.Clone(e.Options)
	return e
}

// read decodes the stored tables: the replicated one and, on a
// performance secondary, its own local mounts in place of its primary's.
func (t *Table) read(ctx context.Context, localOnly bool) ([]Entry, error) {
	entries, err := t.replicated(ctx)
	if err != nil {
		return nil, err
	}
	if localOnly {
		// The primary's local mounts are not this cluster's.
		entries = slices.DeleteFunc(entries, func(e Entry) bool { return e.Local })
	}
	own, err := t.ownLocal(ctx)
	if err != nil || len(own) == 0 {
		return entries, err
	}
	entries = append(entries, own...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	return entries, nil
}

// replicated decodes the replicated table.
func (t *Table) replicated(ctx context.Context) ([]Entry, error) {
	raw, err := t.store.Get(ctx, tableKey)
	if errors.Is(err, storage.ErrNotFound) {
		return defaultTable(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	var entries []Entry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("decode mount table: %w", err)
	}
	for i := range entries {
		entries[i].Table = "mounts"
	}
	return entries, nil
}

func (t *Table) save(ctx context.Context, entries []Entry) error {
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	var own []Entry
	for _, e := range entries {
		if e.InLocalTable {
			own = append(own, e)
		}
	}
	var ops []storage.Op
	if t.isLocalOnly() {
		// The replicated table is the primary's; only the own part moves.
		raw, err := json.Marshal(nonNilEntries(own))
		if err != nil {
			return fmt.Errorf("encode local mount table: %w", err)
		}
		ops = append(ops, storage.Op{Local: true, Key: localTableKey, Value: raw})
	} else {
		// A former performance secondary's own mounts join the table.
		raw, err := json.Marshal(entries)
		if err != nil {
			return fmt.Errorf("encode mount table: %w", err)
		}
		ops = append(ops, storage.Op{Key: tableKey, Value: raw})
		if len(own) > 0 {
			ops = append(ops, storage.Op{Local: true, Key: localTableKey, Delete: true})
		}
	}
	if _, err := t.store.Write(ctx, ops...); err != nil {
		return fmt.Errorf("store mount table: %w", err)
	}
	return nil
}

func nonNilEntries(e []Entry) []Entry {
	if e == nil {
		return []Entry{}
	}
	return e
}

// Match returns the stored mount that encloses the logical path (longest
// prefix), or nil. "secret" matches "secret/".
func (t *Table) Match(ctx context.Context, p string) (*Entry, error) {
	best, err := t.MatchShared(ctx, p)
	if err != nil || best == nil {
		return nil, err
	}
	e := cloneEntry(*best)
	return &e, nil
}

// MatchShared is Match without the copy, for the request path that only
// reads the entry: it points into the cached table and must not be
// modified. A changed table is still seen at once, as with Match: the
// cache is checked against the table's generation on every call.
func (t *Table) MatchShared(ctx context.Context, p string) (*Entry, error) {
	entries, err := t.shared(ctx)
	if err != nil {
		return nil, err
	}
	return longest(entries, p), nil
}

// Enclosing is Match that also knows the built-in mounts (sys/, auth/token/).
func (t *Table) Enclosing(ctx context.Context, p string) (*Entry, error) {
	entries, err := t.List(ctx)
	if err != nil {
		return nil, err
	}
	return longest(append(entries, builtins...), p), nil
}

func longest(entries []Entry, p string) *Entry {
	var best *Entry
	for i := range entries {
		e := &entries[i]
		if strings.HasPrefix(p, e.Path) || p+"/" == e.Path {
			if best == nil || len(e.Path) > len(best.Path) {
				best = e
			}
		}
	}
	return best
}

// Get returns the stored mount at exactly path, or nil.
func (t *Table) Get(ctx context.Context, p string) (*Entry, error) {
	entries, err := t.List(ctx)
	if err != nil {
		return nil, err
	}
	p = Sanitize(p)
	for i := range entries {
		if entries[i].Path == p {
			return &entries[i], nil
		}
	}
	return nil, nil
}

// Sanitize gives a mount path Vault's form: no leading slash, one trailing slash.
func Sanitize(p string) string {
	p = strings.TrimPrefix(p, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// ValidatePath refuses paths Vault refuses (unclean, unprintable) and those
// this server reserves for itself.
func ValidatePath(p string) error {
	if p == "/" || p == "" {
		return apierr.Invalid("mount path must not be empty")
	}
	if len(p) > MaxPathLength {
		return apierr.Invalid("mount path is %d bytes; the limit is %d", len(p), MaxPathLength)
	}
	if clean := path.Clean(p) + "/"; clean != p {
		return apierr.Invalid("path '%s' does not match cleaned path '%s'", p, clean)
	}
	if strings.IndexFunc(p, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0 {
		return apierr.Invalid("path cannot contain non-printable characters")
	}
	for _, pre := range protected {
		if strings.HasPrefix(p, pre) {
			return apierr.PermissionDenied("cannot mount %q", p)
		}
	}
	return nil
}

// CheckSize refuses an entry whose description or options exceed the bounds.
func CheckSize(e *Entry) error {
	if len(e.Description) > MaxDescriptionLength {
		return apierr.Invalid("description is %d bytes; the limit is %d", len(e.Description), MaxDescriptionLength)
	}
	if len(e.Options) > MaxOptions {
		return apierr.Invalid("%d options given; the limit is %d", len(e.Options), MaxOptions)
	}
	for k, v := range e.Options {
		if len(k) > MaxOptionLength || len(v) > MaxOptionLength {
			return apierr.Invalid("option %.40q is longer than %d bytes", k, MaxOptionLength)
		}
	}
	return nil
}

func conflict(entries []Entry, p, except string) error {
	for _, e := range entries {
		if e.Path == except {
			continue
		}
		if strings.HasPrefix(e.Path, p) || strings.HasPrefix(p, e.Path) {
			return apierr.Conflict("path is already in use at %s", e.Path)
		}
	}
	return nil
}

// Enable adds e (whose Path is sanitized and validated here) and returns it
// with its identifiers and storage prefix filled in.
func (t *Table) Enable(ctx context.Context, e Entry) (Entry, error) {
	e.Path = Sanitize(e.Path)
	if err := ValidatePath(e.Path); err != nil {
		return Entry{}, err
	}
	if err := CheckSize(&e); err != nil {
		return Entry{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	entries, err := t.List(ctx)
	if err != nil {
		return Entry{}, err
	}
	if err := conflict(entries, e.Path, ""); err != nil {
		return Entry{}, err
	}
	if len(entries) >= MaxMounts {
		return Entry{}, apierr.Invalid("the mount table is full (%d mounts): disable unused mounts first", MaxMounts)
	}
	if e.UUID, err = randid.UUID(rand.Reader); err != nil {
		return Entry{}, err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return Entry{}, fmt.Errorf("mount accessor: %w", err)
	}
	e.Accessor = e.Type + "_" + hex.EncodeToString(suffix)
	e.Prefix = "logical/" + e.UUID + "/"
	if e.Local {
		e.Prefix = LocalPrefix + e.UUID + "/"
	}
	e.Builtin, e.Table = false, "mounts"
	if t.isLocalOnly() {
		if !e.Local {
			return Entry{}, apierr.Invalid("this cluster is a performance secondary: only local mounts can be enabled here; enable a replicated mount on the primary")
		}
		e.InLocalTable = true
	}
	if err := t.save(ctx, append(entries, e)); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Disable removes the mount at path and deletes its data through the normal
// write path, so DR secondaries delete it too. A path with no mount is not an
// error (as Vault). The table changes first: a crash halfway through the
// deletion leaves unreachable keys under a prefix no new mount reuses.
func (t *Table) Disable(ctx context.Context, p string) error {
	p = Sanitize(p)
	for _, pre := range protected {
		if strings.HasPrefix(p, pre) {
			return apierr.Invalid("cannot unmount %q", p)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	entries, err := t.List(ctx)
	if err != nil {
		return err
	}
	i := indexOf(entries, p)
	if i < 0 {
		return nil
	}
	gone := entries[i]
	if err := t.save(ctx, append(entries[:i:i], entries[i+1:]...)); err != nil {
		return err
	}
	return t.deleteData(ctx, gone.Prefix)
}

func indexOf(entries []Entry, p string) int {
	for i := range entries {
		if entries[i].Path == p {
			return i
		}
	}
	return -1
}

// deleteData deletes every key under prefix, deleteBatch keys per write.
func (t *Table) deleteData(ctx context.Context, prefix string) error {
	var batch []storage.Op
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := t.store.Write(ctx, batch...); err != nil {
			return fmt.Errorf("delete mount data: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	err := t.walk(ctx, prefix, func(key string) error {
		batch = append(batch, storage.Op{Key: key, Delete: true})
		if len(batch) >= deleteBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// walk calls fn for every key under prefix, depth first. fn may delete keys
// that walk has already passed.
func (t *Table) walk(ctx context.Context, prefix string, fn func(key string) error) error {
	children, err := t.store.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list mount data: %w", err)
	}
	for _, c := range children {
		if strings.HasSuffix(c, "/") {
			if err := t.walk(ctx, prefix+c, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(prefix + c); err != nil {
			return err
		}
	}
	return nil
}

// Tune applies change to the mount at path and stores the result.
func (t *Table) Tune(ctx context.Context, p string, change func(*Entry) error) error {
	p = Sanitize(p)
	for _, pre := range []string{"sys/", "cubbyhole/", "audit/", "identity/"} {
		if strings.HasPrefix(p, pre) {
			return apierr.Invalid("cannot tune %q", p)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	entries, err := t.List(ctx)
	if err != nil {
		return err
	}
	e := longest(entries, p)
	if e == nil {
		return apierr.Invalid("tune of path %q failed: no mount entry found", p)
	}
	if err := change(e); err != nil {
		return err
	}
	if err := CheckSize(e); err != nil {
		return err
	}
	return t.save(ctx, entries)
}

// Move gives the mount at from the path to. Its data stays where it is (the
// storage prefix does not depend on the path), so the move is one write. It
// returns the move's id for MoveStatus, as Vault's migration_id.
func (t *Table) Move(ctx context.Context, from, to string) (string, error) {
	if err := t.move(ctx, from, to); err != nil {
		return "", err
	}
	id, err := randid.UUID(rand.Reader)
	if err != nil {
		return "", err
	}
	t.moves.add(id, MoveInfo{Source: Sanitize(from), Target: Sanitize(to), Status: "success"})
	return id, nil
}

func (t *Table) move(ctx context.Context, from, to string) error {
	from, to = Sanitize(from), Sanitize(to)
	for _, pre := range protected {
		if strings.HasPrefix(from, pre) {
			return apierr.Invalid("cannot remount %q", from)
		}
		if strings.HasPrefix(to, pre) {
			return apierr.Invalid("cannot remount to destination %s", to)
		}
	}
	if err := ValidatePath(to); err != nil {
		return apierr.Invalid("invalid destination mount: %v", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	entries, err := t.List(ctx)
	if err != nil {
		return err
	}
	i := indexOf(entries, from)
	if i < 0 {
		return apierr.Invalid("no matching mount at %q", from)
	}
	for _, e := range entries {
		if e.Path != from && (strings.HasPrefix(e.Path, to) || strings.HasPrefix(to, e.Path)) {
			return apierr.Invalid("path already in use at %q", e.Path)
		}
	}
	entries[i].Path = to
	return t.save(ctx, entries)
}

// maxMoves is how many finished moves MoveStatus remembers (in memory, as
// Vault's migration tracker).
const maxMoves = 100

// MoveInfo is what sys/remount/status reports about one move.
type MoveInfo struct {
	Source, Target, Status string
}

type moveLog struct {
	mu    sync.Mutex
	order []string
	info  map[string]MoveInfo
}

func (l *moveLog) add(id string, info MoveInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.info == nil {
		l.info = map[string]MoveInfo{}
	}
	if len(l.order) >= maxMoves {
		delete(l.info, l.order[0])
		l.order = l.order[1:]
	}
	l.order = append(l.order, id)
	l.info[id] = info
}

// MoveStatus returns the move with this id, if it is among the last maxMoves.
func (t *Table) MoveStatus(id string) (MoveInfo, bool) {
	t.moves.mu.Lock()
	defer t.moves.mu.Unlock()
	info, ok := t.moves.info[id]
	return info, ok
}

// ConvertFunc turns one key of a mount's old layout (relative to its prefix)
// into the writes of its new layout under newPrefix.
type ConvertFunc func(newPrefix, key string, value []byte) ([]storage.Op, error)

// Upgrade rewrites the kv version-1 mount at path as version 2: every key is
// converted into a new storage prefix, then the table switches the mount to
// it (one write), then the old keys are deleted, all through the normal
// write path so DR secondaries follow. Requests to the mount wait meanwhile.
// A crash before the switch leaves the mount as it was (and unreachable
// keys under an unused prefix); after it, only old keys to delete.
func (t *Table) Upgrade(ctx context.Context, p string, convert ConvertFunc) error {
	p = Sanitize(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	entries, err := t.List(ctx)
	if err != nil {
		return err
	}
	i := indexOf(entries, p)
	if i < 0 {
		return apierr.Invalid("tune of path %q failed: no mount entry found", p)
	}
	e := &entries[i]
	if e.Type != TypeKV || e.KVVersion() != 1 {
		return apierr.Invalid("%q is not a kv version 1 mount", p)
	}
	uuid, err := randid.UUID(rand.Reader)
	if err != nil {
		return err
	}
	oldPrefix, newPrefix := e.Prefix, "logical/"+uuid+"/"
	var batch []storage.Op
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := t.store.Write(ctx, batch...); err != nil {
			return fmt.Errorf("upgrade mount: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	err = t.walk(ctx, oldPrefix, func(key string) error {
		value, err := t.store.Get(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("upgrade mount: %w", err)
		}
		ops, err := convert(newPrefix, strings.TrimPrefix(key, oldPrefix), value)
		if err != nil {
			return err
		}
		batch = append(batch, ops...)
		if len(batch) >= deleteBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	e.Prefix = newPrefix
	if e.Options == nil {
		e.Options = map[string]string{}
	}
	e.Options["version"] = "2"
	if err := t.save(ctx, entries); err != nil {
		return err
	}
	return t.deleteData(ctx, oldPrefix)
}
