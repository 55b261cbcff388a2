package barrier

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

func openStore(t *testing.T) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "b.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func rootKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, keyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// initialised returns an unsealed barrier over a new store and its root key.
func initialised(t *testing.T) (*Barrier, []byte) {
	t.Helper()
	ctx := context.Background()
	b := New(openStore(t), Options{PlainReplicated: []string{"core/seal-config"}})
	root := rootKey(t)
	ops, err := b.Initialize(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store().Write(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	return b, root
}

func TestRoundTripAndCiphertextAtRest(t *testing.T) {
	ctx := context.Background()
	b, _ := initialised(t)
	secret := []byte(`{"password":"canary-7f3a"}`)
	if _, err := b.Write(ctx, storage.Op{Key: "kv/a", Value: secret}, storage.Op{Local: true, Key: "l/a", Value: secret}); err != nil {
		t.Fatal(err)
	}
	for _, local := range []bool{false, true} {
		get, rawGet, key := b.Get, b.Store().Get, "kv/a"
		if local {
			get, rawGet, key = b.LocalGet, b.Store().LocalGet, "l/a"
		}
		got, err := get(ctx, key)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("local=%v: got %q, %v", local, got, err)
		}
		raw, err := rawGet(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("canary")) || len(raw) != len(secret)+Overhead || raw[0] != version {
			t.Fatalf("local=%v: stored bytes are not ciphertext: %q", local, raw)
		}
	}
	// The WAL carries the stored bytes, so replication ships ciphertext.
	wal, err := b.Store().WALSince(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range wal {
		if bytes.Contains(e.Value, []byte("canary")) {
			t.Fatalf("WAL entry %d holds plaintext", e.Index)
		}
	}
}

// A value copied to another key, or between keyspaces, does not decrypt.
func TestCiphertextBoundToKeyAndKeyspace(t *testing.T) {
	ctx := context.Background()
	b, _ := initialised(t)
	if _, err := b.Write(ctx, storage.Op{Key: "kv/a", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	raw, err := b.Store().Get(ctx, "kv/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store().Write(ctx, storage.Op{Key: "kv/b", Value: raw}, storage.Op{Local: true, Key: "kv/a", Value: raw}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "kv/b"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("moved to another key: %v, want ErrDecrypt", err)
	}
	if _, err := b.LocalGet(ctx, "kv/a"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("moved to the local keyspace: %v, want ErrDecrypt", err)
	}
	raw[len(raw)-1] ^= 1
	if _, err := b.Store().Write(ctx, storage.Op{Key: "kv/a", Value: raw}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "kv/a"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("tampered: %v, want ErrDecrypt", err)
	}
}

func TestSealedReadsNothingButPlainKeys(t *testing.T) {
	ctx := context.Background()
	b, root := initialised(t)
	if _, err := b.Write(ctx, storage.Op{Key: "kv/a", Value: []byte("x")}, storage.Op{Key: "core/seal-config", Value: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	if _, err := b.Get(ctx, "kv/a"); !errors.Is(err, ErrSealed) {
		t.Errorf("sealed read: %v, want ErrSealed", err)
	}
	if _, err := b.Write(ctx, storage.Op{Key: "kv/b", Value: []byte("y")}); !errors.Is(err, ErrSealed) {
		t.Errorf("sealed write: %v, want ErrSealed", err)
	}
	if got, err := b.Get(ctx, "core/seal-config"); err != nil || string(got) != "{}" {
		t.Errorf("plain key while sealed: %q, %v", got, err)
	}
	wrong := rootKey(t)
	if err := b.Unseal(ctx, wrong); err == nil {
		t.Fatal("a wrong root key opened the keyring")
	}
	if _, err := b.Get(ctx, "kv/a"); !errors.Is(err, ErrSealed) {
		t.Errorf("after a wrong key: %v, want ErrSealed", err)
	}
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "kv/a"); err != nil || string(got) != "x" {
		t.Errorf("after unseal: %q, %v", got, err)
	}
}

// Rotation: new writes use the new term, old ones still decrypt, and a
// second barrier over a copy of the data (a DR secondary) picks the new
// term up from the stored keyring.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	b, root := initialised(t)
	if _, err := b.Write(ctx, storage.Op{Key: "old", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	other := New(b.Store(), Options{})
	if err := other.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	st, err := b.Rotate(ctx)
	if err != nil || st.Term != 2 {
		t.Fatalf("rotate: %+v, %v", st, err)
	}
	if _, err := b.Write(ctx, storage.Op{Key: "new", Value: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	raw, _ := b.Store().Get(ctx, "new")
	if term, _ := termOf(raw); term != 2 {
		t.Errorf("new write sealed with term %d, want 2", term)
	}
	for _, k := range []string{"old", "new"} {
		if _, err := other.Get(ctx, k); err != nil {
			t.Errorf("second barrier reads %s: %v", k, err)
		}
	}
	if st, _ := other.Status(ctx); st.Term != 2 {
		t.Errorf("second barrier's term %d, want 2", st.Term)
	}
}

// A database written before the barrier is encrypted in place on unseal;
// running it again (as after a crash) changes nothing.
func TestUpgradeInPlace(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	plain := map[string]string{"kv/a": `{"v":"canary-1"}`, "auth/token/id/x": `{"id":"canary-2"}`, "core/seal-config": `{"type":"shamir"}`}
	for k, v := range plain {
		if _, err := s.Write(ctx, storage.Op{Key: k, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Write(ctx, storage.Op{Local: true, Key: "op/x", Value: []byte("canary-3")}); err != nil {
		t.Fatal(err)
	}
	b := New(s, Options{PlainReplicated: []string{"core/seal-config"}})
	root := rootKey(t)
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	for k, v := range plain {
		raw, _ := s.Get(ctx, k)
		got, err := b.Get(ctx, k)
		if err != nil || string(got) != v {
			t.Errorf("%s: %q, %v", k, got, err)
		}
		if k != "core/seal-config" && bytes.Contains(raw, []byte("canary")) {
			t.Errorf("%s still plain", k)
		}
	}
	if got, err := b.LocalGet(ctx, "op/x"); err != nil || string(got) != "canary-3" {
		t.Errorf("local: %q, %v", got, err)
	}
	// Resume from "a crash before the marker": idempotent.
	if _, err := s.Write(ctx, storage.Op{Local: true, Key: upgradedKey, Delete: true}); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "kv/a"); err != nil || string(got) != plain["kv/a"] {
		t.Errorf("after a second pass: %q, %v", got, err)
	}
}

func BenchmarkEncrypt64(b *testing.B) {
	bar, ctx, value, ad := benchBarrier(b)
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := bar.Encrypt(ctx, value, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt64(b *testing.B) {
	bar, ctx, value, ad := benchBarrier(b)
	ct, err := bar.Encrypt(ctx, value, ad)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := bar.Decrypt(ctx, ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBarrier(b *testing.B) (*Barrier, context.Context, []byte, []byte) {
	b.Helper()
	s, err := storage.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	bar := New(s, Options{})
	ops, err := bar.Initialize(make([]byte, keyLen))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Write(context.Background(), ops...); err != nil {
		b.Fatal(err)
	}
	return bar, context.Background(), bytes.Repeat([]byte("v"), 64), []byte("r:secret/bench")
}

// A barrier whose root key went out of date (rekeyed through another
// barrier over the same data, as on a DR primary) still follows a later
// rotation through the term chain, and refuses to rotate itself.
func TestRekeyThenRotateFollowedWithOldRootKey(t *testing.T) {
	ctx := context.Background()
	b, root := initialised(t)
	follower := New(b.Store(), Options{})
	if err := follower.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	newRoot := rootKey(t)
	ops, done, err := b.Rekey(ctx, newRoot)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store().Write(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	done()
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, storage.Op{Key: "k", Value: []byte("term 2")}); err != nil {
		t.Fatal(err)
	}
	if got, err := follower.Get(ctx, "k"); err != nil || string(got) != "term 2" {
		t.Fatalf("follower with the old root key: %q, %v", got, err)
	}
	if _, err := follower.Rotate(ctx); err == nil {
		t.Fatal("rotate with an out-of-date root key accepted")
	}
	// After a restart only the new root key opens the keyring.
	fresh := New(b.Store(), Options{})
	if err := fresh.Unseal(ctx, root); err == nil {
		t.Fatal("the old root key still opens the keyring")
	}
	if err := fresh.Unseal(ctx, newRoot); err != nil {
		t.Fatal(err)
	}
	if st, _ := fresh.Status(ctx); st.Term != 2 {
		t.Fatalf("term %d after rekey and rotate, want 2", st.Term)
	}
}
