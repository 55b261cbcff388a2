// Package kvv2 is the versioned key/value secrets engine (Vault's KV version
// 2): every write keeps a new version, versions can be soft-deleted,
// undeleted and destroyed, and each secret carries metadata. Versions,
// metadata and the mount's configuration are keys in the replicated
// keyspace, written through the normal write path, so DR secondaries hold
// every version and merkle roots stay equal.
//
// Layout under a mount's storage prefix:
//
//	config                  the mount's Config (JSON)
//	metadata/<path>         a secret's Metadata (JSON)
//	versions/<path>/<n>     version n's data (JSON object)
package kvv2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// DefaultMaxVersions is how many versions a secret keeps when neither its
// metadata nor the mount's config says otherwise (Vault's default).
const DefaultMaxVersions = 10

// Vault's bounds on custom_metadata.
const (
	MaxCustomMetadataKeys        = 64
	MaxCustomMetadataKeyLength   = 128
	MaxCustomMetadataValueLength = 512
)

// lockStripes is how many locks serialise writes to secrets: a write reads
// and rewrites a secret's metadata, so two writes to one secret must not
// interleave. Secrets share a stripe by hash.
const lockStripes = 64

// disabledDVA is the config value that turns delete_version_after off.
const disabledDVA = -time.Second

// Config is a mount's settings (path "config").
type Config struct {
	MaxVersions        int           `json:"max_versions"`
	CasRequired        bool          `json:"cas_required"`
	DeleteVersionAfter time.Duration `json:"delete_version_after"`
}

// VersionMeta is what the metadata says about one version.
type VersionMeta struct {
	CreatedTime  time.Time  `json:"created_time"`
	DeletionTime *time.Time `json:"deletion_time,omitempty"`
	Destroyed    bool       `json:"destroyed"`
}

// Metadata is one secret's version index and settings.
type Metadata struct {
	Versions           map[uint64]*VersionMeta `json:"versions"`
	CurrentVersion     uint64                  `json:"current_version"`
	OldestVersion      uint64                  `json:"oldest_version"`
	CreatedTime        time.Time               `json:"created_time"`
	UpdatedTime        time.Time               `json:"updated_time"`
	MaxVersions        int                     `json:"max_versions"`
	CasRequired        bool                    `json:"cas_required"`
	DeleteVersionAfter time.Duration           `json:"delete_version_after"`
	CustomMetadata     map[string]string       `json:"custom_metadata"`
}

// Engine serves every KV v2 mount of one cluster; a mount is named by its
// storage prefix.
type Engine struct {
	store storage.Data
	now   func() time.Time
	locks [lockStripes]sync.Mutex
}

// New returns the engine over store; now stamps versions.
func New(store storage.Data, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{store: store, now: now}
}

func (e *Engine) lock(prefix, key string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(prefix + key))
	m := &e.locks[h.Sum32()%lockStripes]
	m.Lock()
	return m.Unlock
}

func metaKey(prefix, key string) string { return prefix + "metadata/" + key }

func versionKey(prefix, key string, n uint64) string {
	return prefix + "versions/" + key + "/" + strconv.FormatUint(n, 10)
}

// CheckPath refuses secret paths Vault's pattern does not match.
func CheckPath(key string) error {
	if key == "" || strings.HasSuffix(key, "/") {
		return apierr.Invalid("%q is not a secret path: give a name, e.g. data/db-password", key)
	}
	if strings.Contains(key, "//") || strings.HasPrefix(key, "/") {
		return apierr.Invalid("%q is not a valid secret path: remove the empty path segment", key)
	}
	return nil
}

// ReadConfig returns the mount's config (defaults when never written).
func (e *Engine) ReadConfig(ctx context.Context, prefix string) (Config, error) {
	var c Config
	ok, err := e.getJSON(ctx, prefix+"config", &c)
	if err != nil || !ok {
		return Config{}, err
	}
	return c, nil
}

// ConfigUpdate names the config fields a write changes (nil: unchanged).
type ConfigUpdate struct {
	MaxVersions        *int
	CasRequired        *bool
	DeleteVersionAfter *time.Duration // negative disables, zero clears
}

// WriteConfig applies u to the mount's config.
func (e *Engine) WriteConfig(ctx context.Context, prefix string, u ConfigUpdate) error {
	unlock := e.lock(prefix, "\x00config")
	defer unlock()
	c, err := e.ReadConfig(ctx, prefix)
	if err != nil {
		return err
	}
	if u.MaxVersions != nil {
		c.MaxVersions = *u.MaxVersions
	}
	if u.CasRequired != nil {
		c.CasRequired = *u.CasRequired
	}
	if u.DeleteVersionAfter != nil {
		c.DeleteVersionAfter = *u.DeleteVersionAfter
		if c.DeleteVersionAfter < 0 {
			c.DeleteVersionAfter = disabledDVA
		}
	}
	return e.putJSON(ctx, prefix+"config", c)
}

// ReadMetadata returns the secret's metadata, or nil when it has none.
func (e *Engine) ReadMetadata(ctx context.Context, prefix, key string) (*Metadata, error) {
	var m Metadata
	ok, err := e.getJSON(ctx, metaKey(prefix, key), &m)
	if err != nil || !ok {
		return nil, err
	}
	if m.Versions == nil {
		m.Versions = map[uint64]*VersionMeta{}
	}
	return &m, nil
}

// Version is one version as a read or write reports it.
type Version struct {
	Number         uint64
	Meta           VersionMeta
	CustomMetadata map[string]string
	// Data is nil when the version is deleted or destroyed.
	Data map[string]any
}

// Read returns version n of the secret (0: the current one). It returns nil
// when there is no such version; a deleted or destroyed version comes back
// without Data.
func (e *Engine) Read(ctx context.Context, prefix, key string, n uint64) (*Version, error) {
	meta, err := e.ReadMetadata(ctx, prefix, key)
	if err != nil || meta == nil {
		return nil, err
	}
	if n == 0 {
		n = meta.CurrentVersion
	}
	vm := meta.Versions[n]
	if vm == nil {
		return nil, nil
	}
	v := &Version{Number: n, Meta: *vm, CustomMetadata: meta.CustomMetadata}
	if vm.Destroyed || (vm.DeletionTime != nil && vm.DeletionTime.Before(e.now())) {
		return v, nil
	}
	var data map[string]any
	ok, err := e.getJSON(ctx, versionKey(prefix, key, n), &data)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("version %d of a secret has metadata but no data", n)
	}
	v.Data = data
	return v, nil
}

// Write stores data as the secret's next version. cas, when not nil, must
// equal the current version (0: the secret must not exist).
func (e *Engine) Write(ctx context.Context, prefix, key string, data map[string]any, cas *int) (*Version, error) {
	cfg, err := e.ReadConfig(ctx, prefix)
	if err != nil {
		return nil, err
	}
	unlock := e.lock(prefix, key)
	defer unlock()
	meta, err := e.ReadMetadata(ctx, prefix, key)
	if err != nil {
		return nil, err
	}
	if meta == nil {
		meta = &Metadata{Versions: map[uint64]*VersionMeta{}}
	}
	if err := checkCAS(cfg, meta, cas); err != nil {
		return nil, err
	}
	return e.addVersion(ctx, prefix, key, cfg, meta, data)
}

// ErrNoCurrentVersion is Patch's answer when there is nothing to patch: no
// secret, or a current version that is deleted or destroyed (Vault's 404).
var ErrNoCurrentVersion = errors.New("no current version to patch")

// Patch merges patch into the current version (JSON merge patch: a null
// removes a key) and stores the result as the next version. When the
// current version is deleted or destroyed it returns that version with
// ErrNoCurrentVersion.
func (e *Engine) Patch(ctx context.Context, prefix, key string, patch map[string]any, cas *int) (*Version, error) {
	cfg, err := e.ReadConfig(ctx, prefix)
	if err != nil {
		return nil, err
	}
	unlock := e.lock(prefix, key)
	defer unlock()
	cur, err := e.Read(ctx, prefix, key, 0)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, ErrNoCurrentVersion
	}
	meta, err := e.ReadMetadata(ctx, prefix, key)
	if err != nil {
		return nil, err
	}
	if err := checkCAS(cfg, meta, cas); err != nil {
		return nil, err
	}
	if cur.Data == nil {
		return cur, ErrNoCurrentVersion
	}
	return e.addVersion(ctx, prefix, key, cfg, meta, mergePatch(cur.Data, patch))
}

// mergePatch applies an RFC 7386 JSON merge patch to doc.
func mergePatch(doc, patch map[string]any) map[string]any {
	for k, v := range patch {
		if v == nil {
			delete(doc, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := doc[k].(map[string]any); ok {
				doc[k] = mergePatch(dm, pm)
				continue
			}
			doc[k] = mergePatch(map[string]any{}, pm)
			continue
		}
		doc[k] = v
	}
	return doc
}

func checkCAS(cfg Config, meta *Metadata, cas *int) error {
	switch {
	case cas != nil && (*cas < 0 || uint64(*cas) != meta.CurrentVersion):
		return apierr.Invalid("check-and-set parameter did not match the current version")
	case cas == nil && (cfg.CasRequired || meta.CasRequired):
		return apierr.Invalid("check-and-set parameter required for this call")
	}
	return nil
}

// addVersion stores data as the next version of meta's secret, trimming old
// versions, in one storage write. The caller holds the secret's lock.
func (e *Engine) addVersion(ctx context.Context, prefix, key string, cfg Config, meta *Metadata, data map[string]any) (*Version, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, apierr.Invalid("secret data cannot be stored as JSON: %v", err)
	}
	now := e.now().UTC()
	vm := &VersionMeta{CreatedTime: now}
	if dt, ok := deletionTime(now, cfg, meta); ok {
		vm.DeletionTime = &dt
	}
	meta.CurrentVersion++
	n := meta.CurrentVersion
	meta.Versions[n] = vm
	meta.UpdatedTime = now
	if meta.CreatedTime.IsZero() {
		meta.CreatedTime = now
	}
	ops := []storage.Op{{Key: versionKey(prefix, key, n), Value: raw}}
	ops = append(ops, trim(meta, cfg, prefix, key)...)
	mraw, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode secret metadata: %w", err)
	}
	ops = append(ops, storage.Op{Key: metaKey(prefix, key), Value: mraw})
	if _, err := e.store.Write(ctx, ops...); err != nil {
		return nil, fmt.Errorf("write secret version: %w", err)
	}
	return &Version{Number: n, Meta: *vm, CustomMetadata: meta.CustomMetadata}, nil
}

// trim drops the versions beyond the newest max_versions from meta and
// returns the deletes of their data.
func trim(meta *Metadata, cfg Config, prefix, key string) []storage.Op {
	limit := max(meta.MaxVersions, cfg.MaxVersions)
	if limit <= 0 {
		limit = DefaultMaxVersions
	}
	if meta.CurrentVersion-meta.OldestVersion < uint64(limit) {
		return nil
	}
	last := meta.CurrentVersion - uint64(limit)
	var ops []storage.Op
	for n := meta.OldestVersion; n <= last; n++ {
		if vm, ok := meta.Versions[n]; ok {
			if !vm.Destroyed {
				ops = append(ops, storage.Op{Key: versionKey(prefix, key, n), Delete: true})
			}
			delete(meta.Versions, n)
		}
	}
	meta.OldestVersion = last + 1
	return ops
}

// deletionTime is when a version created at t is deleted automatically:
// the smaller non-zero of the mount's and the secret's delete_version_after.
func deletionTime(t time.Time, cfg Config, meta *Metadata) (time.Time, bool) {
	if cfg.DeleteVersionAfter == disabledDVA {
		return time.Time{}, false
	}
	mount, own := cfg.DeleteVersionAfter, meta.DeleteVersionAfter
	if mount <= 0 && own <= 0 {
		return time.Time{}, false
	}
	d := own
	if d <= 0 || (mount > 0 && mount < d) {
		d = mount
	}
	return t.Add(d), true
}

// DeleteLatest soft-deletes the current version.
func (e *Engine) DeleteLatest(ctx context.Context, prefix, key string) error {
	return e.changeVersions(ctx, prefix, key, nil, e.softDelete)
}

// Delete soft-deletes the given versions.
func (e *Engine) Delete(ctx context.Context, prefix, key string, versions []uint64) error {
	return e.changeVersions(ctx, prefix, key, versions, e.softDelete)
}

func (e *Engine) softDelete(_ *Metadata, _ Config, vm *VersionMeta) {
	now := e.now().UTC()
	if vm.DeletionTime != nil && vm.DeletionTime.Before(now) {
		return
	}
	vm.DeletionTime = &now
}

// Undelete clears the deletion of the given versions.
func (e *Engine) Undelete(ctx context.Context, prefix, key string, versions []uint64) error {
	return e.changeVersions(ctx, prefix, key, versions, func(meta *Metadata, cfg Config, vm *VersionMeta) {
		vm.DeletionTime = nil
		if dt, ok := deletionTime(e.now().UTC(), cfg, meta); ok {
			vm.DeletionTime = &dt
		}
	})
}

// Destroy removes the data of the given versions for good.
func (e *Engine) Destroy(ctx context.Context, prefix, key string, versions []uint64) error {
	return e.changeVersions(ctx, prefix, key, versions, func(_ *Metadata, _ Config, vm *VersionMeta) {
		vm.Destroyed = true
	})
}

// changeVersions applies change to each live (not destroyed) version listed
// (nil: the current one) and stores the metadata; destroyed versions' data
// is deleted in the same write.
func (e *Engine) changeVersions(ctx context.Context, prefix, key string, versions []uint64, change func(*Metadata, Config, *VersionMeta)) error {
	cfg, err := e.ReadConfig(ctx, prefix)
	if err != nil {
		return err
	}
	unlock := e.lock(prefix, key)
	defer unlock()
	meta, err := e.ReadMetadata(ctx, prefix, key)
	if err != nil || meta == nil {
		return err
	}
	if versions == nil {
		versions = []uint64{meta.CurrentVersion}
	}
	var ops []storage.Op
	for _, n := range versions {
		vm := meta.Versions[n]
		if vm == nil || vm.Destroyed {
			continue
		}
		change(meta, cfg, vm)
		if vm.Destroyed {
			ops = append(ops, storage.Op{Key: versionKey(prefix, key, n), Delete: true})
		}
	}
	mraw, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode secret metadata: %w", err)
	}
	ops = append(ops, storage.Op{Key: metaKey(prefix, key), Value: mraw})
	if _, err := e.store.Write(ctx, ops...); err != nil {
		return fmt.Errorf("write secret metadata: %w", err)
	}
	return nil
}

// MetadataUpdate names the metadata fields a write changes (nil: unchanged).
type MetadataUpdate struct {
	MaxVersions        *int
	CasRequired        *bool
	DeleteVersionAfter *time.Duration
	CustomMetadata     map[string]string // replaces the whole map when not nil
}

// WriteMetadata applies u, creating the metadata when the secret has none.
func (e *Engine) WriteMetadata(ctx context.Context, prefix, key string, u MetadataUpdate) error {
	if u.CustomMetadata != nil {
		if err := ValidateCustomMetadata(u.CustomMetadata); err != nil {
			return err
		}
	}
	unlock := e.lock(prefix, key)
	defer unlock()
	meta, err := e.ReadMetadata(ctx, prefix, key)
	if err != nil {
		return err
	}
	if meta == nil {
		now := e.now().UTC()
		meta = &Metadata{Versions: map[uint64]*VersionMeta{}, CreatedTime: now, UpdatedTime: now}
	}
	if u.MaxVersions != nil {
		meta.MaxVersions = *u.MaxVersions
	}
	if u.CasRequired != nil {
		meta.CasRequired = *u.CasRequired
	}
	if u.DeleteVersionAfter != nil {
		meta.DeleteVersionAfter = *u.DeleteVersionAfter
	}
	if u.CustomMetadata != nil {
		meta.CustomMetadata = u.CustomMetadata
	}
	return e.putJSON(ctx, metaKey(prefix, key), meta)
}

// DeleteMetadata deletes the secret: its metadata and every version.
func (e *Engine) DeleteMetadata(ctx context.Context, prefix, key string) error {
	unlock := e.lock(prefix, key)
	defer unlock()
	meta, err := e.ReadMetadata(ctx, prefix, key)
	if err != nil || meta == nil {
		return err
	}
	ops := []storage.Op{{Key: metaKey(prefix, key), Delete: true}}
	for n, vm := range meta.Versions {
		if !vm.Destroyed {
			ops = append(ops, storage.Op{Key: versionKey(prefix, key, n), Delete: true})
		}
	}
	if _, err := e.store.Write(ctx, ops...); err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	return nil
}

// List returns the secrets and folders under the metadata folder path.
func (e *Engine) List(ctx context.Context, prefix, folder string) ([]string, error) {
	if folder != "" && !strings.HasSuffix(folder, "/") {
		folder += "/"
	}
	keys, err := e.store.List(ctx, prefix+"metadata/"+folder)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return keys, nil
}

// ValidateCustomMetadata applies Vault's limits and reports every violation.
func ValidateCustomMetadata(m map[string]string) error {
	const pre = "custom_metadata validation failed"
	if len(m) > MaxCustomMetadataKeys {
		return apierr.Invalid("%s: payload must contain at most %d keys, provided %d", pre, MaxCustomMetadataKeys, len(m))
	}
	var errs []string
	for k, v := range m {
		if len(k) == 0 || len(k) > MaxCustomMetadataKeyLength {
			errs = append(errs, fmt.Sprintf("%s: length of key %q is %d but must be 0 < len(key) <= %d", pre, k, len(k), MaxCustomMetadataKeyLength))
		}
		if len(v) == 0 || len(v) > MaxCustomMetadataValueLength {
			errs = append(errs, fmt.Sprintf("%s: length of value for key %q is %d but must be 0 < len(value) <= %d", pre, k, len(v), MaxCustomMetadataValueLength))
		}
		if !printable(k) {
			errs = append(errs, fmt.Sprintf("%s: key %q contains unprintable characters", pre, k))
		}
		if !printable(v) {
			errs = append(errs, fmt.Sprintf("%s: value for key %q contains unprintable characters", pre, k))
		}
	}
	if len(errs) > 0 {
		return apierr.Invalid("%s", strings.Join(errs, "; "))
	}
	return nil
}

func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func (e *Engine) getJSON(ctx context.Context, key string, v any) (bool, error) {
	raw, err := e.store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read kv v2 entry: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return false, fmt.Errorf("decode stored kv v2 entry: %w", err)
	}
	return true, nil
}

func (e *Engine) putJSON(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode kv v2 entry: %w", err)
	}
	if _, err := e.store.Write(ctx, storage.Op{Key: key, Value: raw}); err != nil {
		return fmt.Errorf("write kv v2 entry: %w", err)
	}
	return nil
}

// ImportV1 returns the writes that make a KV version-1 secret (its stored
// JSON) version 1 of a KV v2 secret under prefix, for a mount's upgrade.
func (e *Engine) ImportV1(prefix, key string, value []byte) ([]storage.Op, error) {
	now := e.now().UTC()
	meta := &Metadata{
		Versions:       map[uint64]*VersionMeta{1: {CreatedTime: now}},
		CurrentVersion: 1,
		CreatedTime:    now,
		UpdatedTime:    now,
	}
	mraw, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode secret metadata: %w", err)
	}
	return []storage.Op{
		{Key: versionKey(prefix, key, 1), Value: value},
		{Key: metaKey(prefix, key), Value: mraw},
	}, nil
}
