package barrier

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

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
			continue
		}
		n, err := b.encryptKeyspace(ctx, local, &done, killAfter)
		if err != nil {
			return err
		}
		b.log.Info("barrier: values encrypted in place", "local", local, "values", n)
	}
	if _, err := b.store.Write(ctx, storage.Op{Local: true, Key: upgradedKey, Value: []byte("1")}); err != nil {
		return fmt.Errorf("barrier: record the end of the upgrade: %w", err)
	}
	return nil
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
