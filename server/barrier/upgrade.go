package barrier

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// KillAfterEnv, set to N in tests, makes the process SIGKILL itself after N
// values were encrypted in place: the upgrade must resume from any point.
const KillAfterEnv = "VAULTREPL_TEST_UPGRADE_KILL_AFTER"

// upgradeBatch bounds one commit of the in-place encryption.
const upgradeBatch = 32

// upgradeIfNeeded encrypts in place a database written before the barrier
// existed. It is idempotent, hence crash-safe without a cursor: a value that
// already opens under the keyring is skipped, every other one is encrypted,
// and the marker that ends the work is written last. A DR secondary
// encrypts only its local keyspace: its replicated keyspace arrives
// encrypted from its primary.
func (b *Barrier) upgradeIfNeeded(ctx context.Context) error {
	_, err := b.store.LocalGet(ctx, upgradedKey)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("barrier: read upgrade marker: %w", err)
	}
	killAfter := -1
	if v := os.Getenv(KillAfterEnv); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			killAfter = n
		}
	}
	done := 0
	for _, local := range []bool{false, true} {
		if !local && !b.mayWrite() {
			if err := b.checkReplicatedEncrypted(ctx); err != nil {
				return err
			}
			continue
		}
		n, err := b.encryptKeyspace(ctx, local, &done, killAfter)
		if err != nil {
			return err
		}
		b.log.Info("barrier: values encrypted in place", "local", local, "values", n)
	}
	// The WAL keeps the plain values as history, and free pages and -wal
	// frames keep the bytes of every row just overwritten.
	n, err := b.store.RewriteWAL(ctx, b.walRewrite)
	if err != nil {
		return err
	}
	if err := b.store.Compact(ctx); err != nil {
		return fmt.Errorf("barrier: compact after the upgrade: %w", err)
	}
	if _, err := b.store.Write(ctx, storage.Op{Local: true, Key: upgradedKey, Value: []byte("1")}); err != nil {
		return fmt.Errorf("barrier: record the end of the upgrade: %w", err)
	}
	b.log.Info("barrier: database encrypted in place", "wal_entries_rewritten", n)
	return nil
}

// ErrUpgradePending is returned when a DR secondary is unsealed before its
// primary has encrypted (and replicated) the data of an old database.
var ErrUpgradePending = apierr.Unavailable("the DR primary has not finished encrypting the replicated data yet: unseal the primary first, wait for this secondary to catch up, then unseal it")

// checkReplicatedEncrypted (on a DR secondary) refuses to finish the
// upgrade while any replicated value is still plain.
func (b *Barrier) checkReplicatedEncrypted(ctx context.Context) error {
	after := ""
	for {
		keys, err := b.store.KeysAfter(ctx, false, after, 256)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		after = keys[len(keys)-1]
		for _, k := range keys {
			if b.plain(false, k) {
				continue
			}
			raw, err := b.store.Get(ctx, k)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if _, ok := termOf(raw); !ok {
				return ErrUpgradePending
			}
		}
	}
}

// walRewrite encrypts a plain value kept in the WAL.
func (b *Barrier) walRewrite(ctx context.Context, key string, value []byte) ([]byte, bool, error) {
	if b.plain(false, key) {
		return nil, false, nil
	}
	if _, ok := termOf(value); ok {
		return nil, false, nil
	}
	ct, err := b.Encrypt(ctx, value, aad(false, key))
	return ct, err == nil, err
}

// encryptKeyspace walks one keyspace in key order, encrypting plain values.
func (b *Barrier) encryptKeyspace(ctx context.Context, local bool, done *int, killAfter int) (int, error) {
	count, after := 0, ""
	for {
		keys, err := b.store.KeysAfter(ctx, local, after, upgradeBatch)
		if err != nil {
			return count, err
		}
		if len(keys) == 0 {
			return count, nil
		}
		after = keys[len(keys)-1]
		var ops []storage.Op
		for _, k := range keys {
			op, ok, err := b.upgradeOp(ctx, local, k)
			if err != nil {
				return count, err
			}
			if ok {
				ops = append(ops, op)
			}
		}
		if len(ops) == 0 {
			continue
		}
		if _, err := b.store.Write(ctx, ops...); err != nil {
			return count, fmt.Errorf("barrier: encrypt in place: %w", err)
		}
		count += len(ops)
		*done += len(ops)
		if killAfter >= 0 && *done >= killAfter {
			b.log.Warn("test hook: killing the process in the middle of the upgrade", "encrypted", *done)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

// upgradeOp returns the write that encrypts key's value, or false when the
// key is stored plain by design or is already encrypted.
func (b *Barrier) upgradeOp(ctx context.Context, local bool, key string) (storage.Op, bool, error) {
	if b.plain(local, key) {
		return storage.Op{}, false, nil
	}
	get := b.store.Get
	if local {
		get = b.store.LocalGet
	}
	raw, err := get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Op{}, false, nil
	}
	if err != nil {
		return storage.Op{}, false, fmt.Errorf("barrier: read %q for encryption: %w", key, err)
	}
	if _, ok := termOf(raw); ok {
		if _, err := b.Decrypt(ctx, raw, aad(local, key)); err == nil {
			return storage.Op{}, false, nil // encrypted before a crash
		}
		// Values written before the barrier are JSON, hex or empty: never
		// this. Something sealed it under another keyring; leave it.
		b.log.Warn("barrier: a stored value is ciphertext this keyring does not open; left as it is", "key", key, "local", local)
		return storage.Op{}, false, nil
	}
	ct, err := b.Encrypt(ctx, raw, aad(local, key))
	if err != nil {
		return storage.Op{}, false, err
	}
	return storage.Op{Local: local, Key: key, Value: ct}, true, nil
}
