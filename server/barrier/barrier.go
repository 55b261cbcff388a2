package barrier

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// ErrSealed is returned for a read or write of an encrypted key while the
// barrier holds no keyring.
var ErrSealed = errors.New("barrier: Vault is sealed")

// upgradedKey (local, plain) says this node's keyspaces are encrypted: it is
// written at init, or at the end of the in-place encryption of a database
// made before the barrier existed (upgrade.go).
const upgradedKey = "core/barrier-upgraded"

// Options configure a Barrier.
type Options struct {
	// PlainReplicated and PlainLocal are keys stored as they are: what a
	// sealed node must read (the seal configuration, its DR role) and what
	// is no secret (the cluster's name). KeyringKey is always stored as is:
	// it is sealed under the root key instead.
	PlainReplicated []string
	PlainLocal      []string
	Random          io.Reader
	Now             func() time.Time
	Logger          *slog.Logger
}

// Barrier stands between the domain packages and storage: it satisfies
// storage.Data, encrypting every value on its way in and decrypting it on
// its way out. Keys (paths) are not encrypted, as in Vault.
type Barrier struct {
	store  *storage.Store
	plainR map[string]bool
	plainL map[string]bool
	random io.Reader
	now    func() time.Time
	log    *slog.Logger

	// mayWriteReplicated says whether this node may write the replicated
	// keyspace (not a DR secondary); the upgrade asks it.
	mayWriteReplicated atomic.Pointer[func() bool]

	mu      sync.RWMutex
	rootKey []byte   // nil while sealed
	ring    *keyring // nil while sealed, or until an adopted root key opens it
	// stale: the DR role changed. On a secondary the primary rotates the
	// stored keyring underneath; it is read again after a role change, so
	// a promoted secondary writes with the newest term (and reports it).
	stale atomic.Bool

	encryptions atomic.Int64
}

var _ storage.Data = (*Barrier)(nil)

// New returns a sealed barrier over store.
func New(store *storage.Store, opts Options) *Barrier {
	if opts.Random == nil {
		opts.Random = crand.Reader
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Barrier{
		store:  store,
		plainR: map[string]bool{KeyringKey: true},
		plainL: map[string]bool{upgradedKey: true},
		random: opts.Random,
		now:    opts.Now,
		log:    opts.Logger,
	}
	for _, k := range opts.PlainReplicated {
		b.plainR[k] = true
	}
	for _, k := range opts.PlainLocal {
		b.plainL[k] = true
	}
	return b
}

// SetReplicatedWriter tells the barrier whether this node may write the
// replicated keyspace (a DR secondary may not: its primary's WAL does).
func (b *Barrier) SetReplicatedWriter(may func() bool) { b.mayWriteReplicated.Store(&may) }

func (b *Barrier) mayWrite() bool {
	f := b.mayWriteReplicated.Load()
	return f == nil || (*f)()
}

// Store is the storage under the barrier.
func (b *Barrier) Store() *storage.Store { return b.store }

// Watch is the store's: the counters move with the stored (encrypted)
// bytes, which change exactly when the plain values do.
func (b *Barrier) Watch(prefix string) *atomic.Uint64 { return b.store.Watch(prefix) }

func aad(local bool, key string) []byte {
	if local {
		return []byte("l:" + key)
	}
	return []byte("r:" + key)
}

func (b *Barrier) plain(local bool, key string) bool {
	if local {
		return b.plainL[key]
	}
	return b.plainR[key]
}

// Get reads and decrypts a replicated key.
func (b *Barrier) Get(ctx context.Context, key string) ([]byte, error) {
	raw, err := b.store.Get(ctx, key)
	if err != nil || b.plain(false, key) {
		return raw, err
	}
	return b.Decrypt(ctx, raw, aad(false, key))
}

// LocalGet reads and decrypts a local key.
func (b *Barrier) LocalGet(ctx context.Context, key string) ([]byte, error) {
	raw, err := b.store.LocalGet(ctx, key)
	if err != nil || b.plain(true, key) {
		return raw, err
	}
	return b.Decrypt(ctx, raw, aad(true, key))
}

// List lists replicated keys (paths are not encrypted).
func (b *Barrier) List(ctx context.Context, prefix string) ([]string, error) {
	return b.store.List(ctx, prefix)
}

// LocalList lists local keys.
func (b *Barrier) LocalList(ctx context.Context, prefix string) ([]string, error) {
	return b.store.LocalList(ctx, prefix)
}

// Write encrypts the values of ops and commits them atomically.
func (b *Barrier) Write(ctx context.Context, ops ...storage.Op) (uint64, error) {
	sealed := make([]storage.Op, len(ops))
	for i, op := range ops {
		sealed[i] = op
		if op.Delete || b.plain(op.Local, op.Key) {
			continue
		}
		ct, err := b.Encrypt(ctx, op.Value, aad(op.Local, op.Key))
		if err != nil {
			return 0, err
		}
		sealed[i].Value = ct
	}
	return b.store.Write(ctx, sealed...)
}

// current returns the keyring, loading it when a root key is held but the
// keyring is not (adopted on DR activation) or lacks term (rotated on the
// primary and replicated here).
func (b *Barrier) current(ctx context.Context, term uint32) (*keyring, error) {
	b.mu.RLock()
	ring, root := b.ring, b.rootKey
	b.mu.RUnlock()
	if root == nil {
		return nil, ErrSealed
	}
	if ring != nil && (term == 0 || ring.aeads[term] != nil) && !b.stale.Load() {
		return ring, nil
	}
	return b.reload(ctx)
}

// reload reads the stored keyring again with the root key held. When the
// root key no longer opens it (the primary was rekeyed while this node ran)
// the keyring held is extended instead with the terms rotated since, each
// sealed under the one before it (rotate.go), as Vault's standbys do.
func (b *Barrier) reload(ctx context.Context) (*keyring, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ring, err := b.readKeyringLocked(ctx)
	if err != nil {
		if b.ring == nil {
			return nil, err
		}
		if ring, err = b.followRotations(ctx, b.ring); err != nil {
			return nil, err
		}
	}
	b.ring = ring
	b.stale.Store(false)
	return ring, nil
}

// readKeyringLocked opens the stored keyring with the root key held.
func (b *Barrier) readKeyringLocked(ctx context.Context) (*keyring, error) {
	if b.rootKey == nil {
		return nil, ErrSealed
	}
	raw, err := b.store.Get(ctx, KeyringKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errors.New("barrier: no keyring in storage yet (a new DR secondary gets it with its first sync)")
	}
	if err != nil {
		return nil, fmt.Errorf("barrier: read keyring: %w", err)
	}
	return openKeyring(raw, b.rootKey)
}

// Encrypt seals plain with the active term, bound to additional data.
func (b *Barrier) Encrypt(ctx context.Context, plain, additional []byte) ([]byte, error) {
	ring, err := b.current(ctx, 0)
	if err != nil {
		return nil, err
	}
	ct, err := seal(ring.aeads[ring.Active], ring.Active, b.random, plain, additional)
	if err != nil {
		return nil, err
	}
	b.encryptions.Add(1)
	return ct, nil
}

// Decrypt opens a value sealed by any term of the keyring.
func (b *Barrier) Decrypt(ctx context.Context, ct, additional []byte) ([]byte, error) {
	term, ok := termOf(ct)
	if !ok {
		return nil, ErrDecrypt
	}
	ring, err := b.current(ctx, term)
	if err != nil {
		return nil, err
	}
	aead := ring.aeads[term]
	if aead == nil {
		return nil, fmt.Errorf("%w: term %d is not in the keyring", ErrDecrypt, term)
	}
	return open(aead, ct, additional)
}

// Initialize makes a new keyring for a new cluster and returns the writes
// that store it, for the caller's init transaction. The barrier holds the
// keyring afterwards so that init can write the root token; the caller
// seals it when init is done.
func (b *Barrier) Initialize(rootKey []byte) ([]storage.Op, error) {
	ring, err := newKeyring(b.random, b.now())
	if err != nil {
		return nil, err
	}
	raw, err := sealKeyring(ring, rootKey, b.random)
	if err != nil {
		return nil, err
	}
	b.install(rootKey, ring)
	return []storage.Op{
		{Key: KeyringKey, Value: raw},
		{Local: true, Key: upgradedKey, Value: []byte("1")},
	}, nil
}

func (b *Barrier) install(rootKey []byte, ring *keyring) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropLocked()
	b.rootKey = bytes.Clone(rootKey)
	b.ring = ring
}

// Unseal opens the keyring with the root key the unseal shares combined
// into. A database written before the barrier existed is encrypted in place
// first (upgrade.go).
func (b *Barrier) Unseal(ctx context.Context, rootKey []byte) error {
	raw, err := b.store.Get(ctx, KeyringKey)
	var ring *keyring
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if !b.mayWrite() {
			return apierr.Unavailable("this DR secondary has no keyring yet: it arrives from the primary with the stream; unseal the primary first and retry")
		}
		if ring, err = b.createKeyring(ctx, rootKey); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("barrier: read keyring: %w", err)
	default:
		if ring, err = openKeyring(raw, rootKey); err != nil {
			return err
		}
	}
	b.install(rootKey, ring)
	if err := b.upgradeIfNeeded(ctx); err != nil {
		b.Seal()
		return err
	}
	return nil
}

// createKeyring stores a first keyring for a database made before the
// barrier existed.
func (b *Barrier) createKeyring(ctx context.Context, rootKey []byte) (*keyring, error) {
	ring, err := newKeyring(b.random, b.now())
	if err != nil {
		return nil, err
	}
	raw, err := sealKeyring(ring, rootKey, b.random)
	if err != nil {
		return nil, err
	}
	if _, err := b.store.Write(ctx, storage.Op{Key: KeyringKey, Value: raw}); err != nil {
		return nil, fmt.Errorf("barrier: store keyring: %w", err)
	}
	b.log.Info("barrier keyring created for a database written before encryption at rest")
	return ring, nil
}

// Adopt replaces the root key with the DR primary's, on activation of a
// secondary: the keyring it opens arrives with the first sync.
func (b *Barrier) Adopt(rootKey []byte) {
	if len(rootKey) != keyLen {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropLocked()
	b.rootKey = bytes.Clone(rootKey)
}

// RoleChanged marks the keyring for reading again (replication.Keys).
func (b *Barrier) RoleChanged() { b.stale.Store(true) }

// Seal drops the root key and the keyring from memory.
func (b *Barrier) Seal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropLocked()
}

func (b *Barrier) dropLocked() {
	clear(b.rootKey)
	b.rootKey = nil
	if b.ring != nil {
		b.ring.wipe()
	}
	b.ring = nil
}

// RootKey returns a copy of the root key, or nil while sealed. A DR primary
// hands it to the secondaries it activates.
func (b *Barrier) RootKey() []byte {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return bytes.Clone(b.rootKey)
}

// KeyStatus is sys/key-status.
type KeyStatus struct {
	Term        uint32
	InstallTime time.Time
	Encryptions int64
}

// Status reports the active term.
func (b *Barrier) Status(ctx context.Context) (KeyStatus, error) {
	ring, err := b.current(ctx, 0)
	if err != nil {
		return KeyStatus{}, err
	}
	t := ring.active()
	return KeyStatus{Term: t.Term, InstallTime: t.InstallTime, Encryptions: b.encryptions.Load()}, nil
}
