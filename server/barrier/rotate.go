package barrier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// upgradePrefix holds, for every term after the first, its key sealed under
// the term before it (Vault's core/upgrade/): a node that holds an older
// keyring but not the current root key (rekeyed on the primary while it
// ran) follows rotations with them.
const upgradePrefix = "core/upgrade/"

func upgradeKey(term uint32) string { return upgradePrefix + strconv.FormatUint(uint64(term), 10) }

// followRotations returns ring extended with the terms stored since.
func (b *Barrier) followRotations(ctx context.Context, ring *keyring) (*keyring, error) {
	next := ring.copy()
	for term := next.Active + 1; ; term++ {
		raw, err := b.store.Get(ctx, upgradeKey(term))
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("barrier: read rotation %d: %w", term, err)
		}
		prev := next.aeads[term-1]
		if prev == nil {
			return nil, fmt.Errorf("%w: rotation %d is sealed under a term not held", ErrDecrypt, term)
		}
		key, err := open(prev, raw, aad(false, upgradeKey(term)))
		if err != nil {
			return nil, err
		}
		next.Terms = append(next.Terms, Term{Term: term, Key: key})
		next.Active = term
	}
	if err := next.index(); err != nil {
		return nil, err
	}
	return next, nil
}

func (k *keyring) copy() *keyring {
	c := &keyring{Terms: make([]Term, 0, len(k.Terms)+1), Active: k.Active}
	for _, t := range k.Terms {
		c.Terms = append(c.Terms, Term{Term: t.Term, Key: bytes.Clone(t.Key), InstallTime: t.InstallTime})
	}
	_ = c.index()
	return c
}

// Rotate installs a new term: new writes use it, older terms still
// decrypt. The keyring is replicated, so secondaries follow.
func (b *Barrier) Rotate(ctx context.Context) (KeyStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ring, err := b.readKeyringLocked(ctx)
	if err != nil {
		if errors.Is(err, ErrDecrypt) {
			return KeyStatus{}, apierr.Invalid("this node's root key no longer opens the stored keyring (the keys were rekeyed while it ran): seal it and unseal it with the current key shares, then rotate")
		}
		return KeyStatus{}, err
	}
	next := ring.copy()
	if err := next.add(b.random, b.now()); err != nil {
		return KeyStatus{}, err
	}
	raw, err := sealKeyring(next, b.rootKey, b.random)
	if err != nil {
		return KeyStatus{}, err
	}
	t := next.active()
	link, err := seal(next.aeads[t.Term-1], t.Term-1, b.random, t.Key, aad(false, upgradeKey(t.Term)))
	if err != nil {
		return KeyStatus{}, err
	}
	if _, err := b.store.Write(ctx, storage.Op{Key: KeyringKey, Value: raw}, storage.Op{Key: upgradeKey(t.Term), Value: link}); err != nil {
		return KeyStatus{}, fmt.Errorf("barrier: store rotated keyring: %w", err)
	}
	b.ring = next
	b.stale.Store(false)
	b.log.Info("barrier key rotated", "term", t.Term)
	return KeyStatus{Term: t.Term, InstallTime: t.InstallTime, Encryptions: b.encryptions.Load()}, nil
}

// Rekey returns the write that stores the keyring sealed under a new root
// key (sys/rekey makes one with new shares), for the caller's transaction
// with the new seal configuration, and the function that makes the barrier
// hold the new root key once that transaction committed.
func (b *Barrier) Rekey(ctx context.Context, newRootKey []byte) ([]storage.Op, func(), error) {
	ring, err := b.current(ctx, 0)
	if err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if stored, err := b.readKeyringLocked(ctx); err == nil {
		ring = stored
	}
	raw, err := sealKeyring(ring, newRootKey, b.random)
	if err != nil {
		return nil, nil, err
	}
	root := bytes.Clone(newRootKey)
	done := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.rootKey != nil {
			clear(b.rootKey)
			b.rootKey = root
		}
	}
	return []storage.Op{{Key: KeyringKey, Value: raw}}, done, nil
}
