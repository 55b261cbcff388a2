package seal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestMain stops the PostgreSQL server of a run with
// VAULTREPL_TEST_STORAGE=postgresql (the same suite on the other engine).
func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }

// newLocation returns where a fresh test store lives: a SQLite file, or a
// fresh PostgreSQL database with VAULTREPL_TEST_STORAGE=postgresql.
func newLocation(t testing.TB) string {
	t.Helper()
	if testserver.StorageEngine() == testserver.EnginePostgres {
		return testserver.PostgresURL(t)
	}
	return filepath.Join(t.TempDir(), "db")
}

// openStore opens (or reopens) the store at loc, a newLocation result.
func openStore(t testing.TB, loc string) *storage.Store {
	t.Helper()
	var s *storage.Store
	var err error
	if testserver.StorageEngine() == testserver.EnginePostgres {
		s, err = storage.OpenPostgres(context.Background(), storage.PostgresConfig{ConnURL: loc}, storage.Options{})
	} else {
		s, err = storage.Open(context.Background(), loc, storage.Options{})
	}
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	return s
}

// newTestManager returns a Manager on a fresh store, with deterministic
// randomness from seed, the store's location and its log output.
func newTestManager(t testing.TB, seed uint64) (*Manager, string, *bytes.Buffer) {
	t.Helper()
	path := newLocation(t)
	store := openStore(t, path)
	t.Cleanup(func() { _ = store.Close() })
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	return New(store, testRand(seed), logger), path, &logs
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func wantKind(t *testing.T, err error, kind apierr.Kind, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %d containing %q", kind, substr)
	}
	if got := apierr.KindOf(err); got != kind {
		t.Fatalf("KindOf(%v) = %d, want %d", err, got, kind)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", err, substr)
	}
}

func mustInit(t testing.TB, m *Manager, n, th int) [][]byte {
	t.Helper()
	shares, err := m.Init(context.Background(), n, th)
	if err != nil {
		t.Fatalf("Init(%d, %d): %v", n, th, err)
	}
	return shares
}

func mustUnseal(t *testing.T, m *Manager, key string) Status {
	t.Helper()
	st, err := m.Unseal(context.Background(), key)
	if err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	return st
}

func TestInitValidation(t *testing.T) {
	tests := []struct {
		shares, threshold int
		want              string // empty: valid
	}{
		{0, 0, "secret_shares must be between 1 and 255"},
		{-1, 1, "secret_shares must be between 1 and 255"},
		{256, 2, "secret_shares must be between 1 and 255"},
		{3, 0, "secret_threshold must be at least 1"},
		{3, 5, "secret_threshold (5) must not exceed secret_shares (3)"},
		{1, 2, "secret_threshold (2) must not exceed secret_shares (1)"},
		{3, 1, "secret_threshold must be at least 2 when secret_shares is more than 1"},
		{1, 1, ""},
		{2, 2, ""},
		{5, 3, ""},
		{255, 255, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.shares, tt.threshold), func(t *testing.T) {
			m, _, _ := newTestManager(t, 1)
			ctx := context.Background()
			shares, err := m.Init(ctx, tt.shares, tt.threshold)
			if tt.want != "" {
				wantKind(t, err, apierr.KindInvalid, tt.want)
				if ok, err := m.Initialized(ctx); err != nil || ok {
					t.Fatalf("Initialized = %v, %v after rejected init", ok, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Init: %v", err)
			}
			if len(shares) != tt.shares {
				t.Fatalf("got %d shares, want %d", len(shares), tt.shares)
			}
			wantLen := 33
			if tt.shares == 1 {
				wantLen = 32
			}
			for _, s := range shares {
				if len(s) != wantLen {
					t.Fatalf("share length %d, want %d", len(s), wantLen)
				}
			}
			st, err := m.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := Status{Type: "shamir", Initialized: true, Sealed: true, T: tt.threshold, N: tt.shares}
			if st != want {
				t.Fatalf("Status = %+v, want %+v", st, want)
			}
			_, err = m.Init(ctx, tt.shares, tt.threshold)
			wantKind(t, err, apierr.KindInvalid, "Vault is already initialized")
		})
	}
}

func TestNotInitialized(t *testing.T) {
	m, _, _ := newTestManager(t, 1)
	ctx := context.Background()
	if ok, err := m.Initialized(ctx); err != nil || ok {
		t.Fatalf("Initialized = %v, %v", ok, err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Status{Type: "shamir", Sealed: true}); st != want {
		t.Fatalf("Status = %+v, want %+v", st, want)
	}
	_, err = m.Unseal(ctx, strings.Repeat("ab", 33))
	wantKind(t, err, apierr.KindInvalid, "Vault is not initialized")
	wantKind(t, m.VerifyShares(ctx, [][]byte{{1, 2}, {3, 4}}), apierr.KindInvalid, "Vault is not initialized")
}

// TestStoredConfig checks the document in the replicated keyspace and that
// neither the root key nor a share is in it.
func TestStoredConfig(t *testing.T) {
	m, _, _ := newTestManager(t, 2)
	ctx := context.Background()
	shares := mustInit(t, m, 5, 3)
	raw, err := m.store.Get(ctx, ConfigKey)
	if err != nil {
		t.Fatalf("Get(%s): %v", ConfigKey, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["type"] != "shamir" || doc["secret_shares"] != 5.0 || doc["secret_threshold"] != 3.0 {
		t.Fatalf("stored config = %s", raw)
	}
	if _, err := m.store.LocalGet(ctx, ConfigKey); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("config must not be in the local keyspace, LocalGet err = %v", err)
	}
	root, err := Combine(shares[:3])
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range append([][]byte{root}, shares...) {
		for _, enc := range []string{string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret)} {
			if bytes.Contains(raw, []byte(enc)) {
				t.Fatal("stored config contains key material")
			}
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUnsealFlow(t *testing.T) {
	encodings := []struct {
		name string
		enc  func([]byte) string
	}{
		{"hex", hex.EncodeToString},
		{"HEX", func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }},
		{"base64", base64.StdEncoding.EncodeToString},
		{"base64 raw", base64.RawStdEncoding.EncodeToString},
		{"base64 newline", func(b []byte) string { return base64.StdEncoding.EncodeToString(b) + "\n" }},
	}
	for i, e := range encodings {
		t.Run(e.name, func(t *testing.T) {
			m, _, logs := newTestManager(t, uint64(10+i))
			ctx := context.Background()
			shares := mustInit(t, m, 5, 3)

			st := mustUnseal(t, m, e.enc(shares[4]))
			if !st.Sealed || st.Progress != 1 || st.T != 3 || st.N != 5 || !uuidRE.MatchString(st.Nonce) {
				t.Fatalf("after first share: %+v", st)
			}
			nonce := st.Nonce

			// The same share again, even in another encoding, is ignored.
			st = mustUnseal(t, m, hex.EncodeToString(shares[4]))
			if st.Progress != 1 || st.Nonce != nonce {
				t.Fatalf("after duplicate share: %+v", st)
			}
			st = mustUnseal(t, m, e.enc(shares[1]))
			if st.Progress != 2 || st.Nonce != nonce || !st.Sealed {
				t.Fatalf("after second share: %+v", st)
			}
			if got, _ := m.Status(ctx); got != st {
				t.Fatalf("Status = %+v, Unseal returned %+v", got, st)
			}
			st = mustUnseal(t, m, e.enc(shares[2]))
			want := Status{Type: "shamir", Initialized: true, Sealed: false, T: 3, N: 5}
			if st != want || m.Sealed() {
				t.Fatalf("after third share: %+v, want %+v", st, want)
			}
			// Unsealing an unsealed cluster changes nothing.
			if st := mustUnseal(t, m, e.enc(shares[0])); st != want {
				t.Fatalf("unseal when unsealed: %+v", st)
			}

			m.Seal()
			if !m.Sealed() {
				t.Fatal("Seal did not seal")
			}
			st, _ = m.Status(ctx)
			if !st.Sealed || st.Progress != 0 || st.Nonce != "" {
				t.Fatalf("after Seal: %+v", st)
			}

			// A new attempt gets a new nonce; Seal discards progress.
			st = mustUnseal(t, m, e.enc(shares[0]))
			if st.Nonce == nonce || st.Nonce == "" {
				t.Fatalf("nonce not renewed: %q", st.Nonce)
			}
			m.Seal()
			if st, _ := m.Status(ctx); st.Progress != 0 {
				t.Fatalf("Seal kept progress: %+v", st)
			}

			checkLogs(t, logs.String(), shares, "vault initialized", "vault unsealed", "vault sealed")
		})
	}
}

// checkLogs asserts the transitions were logged and no key material was.
func checkLogs(t *testing.T, logs string, shares [][]byte, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
	for _, s := range shares {
		for _, enc := range []string{hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s), base64.RawStdEncoding.EncodeToString(s)} {
			if strings.Contains(strings.ToLower(logs), strings.ToLower(enc)) {
				t.Fatal("log contains a key share")
			}
		}
	}
}

func TestResetUnsealAndNonce(t *testing.T) {
	m, _, _ := newTestManager(t, 3)
	ctx := context.Background()
	shares := mustInit(t, m, 3, 2)
	first := mustUnseal(t, m, hex.EncodeToString(shares[0]))
	m.ResetUnseal()
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Progress != 0 || st.Nonce != "" || !st.Sealed {
		t.Fatalf("after ResetUnseal: %+v", st)
	}
	second := mustUnseal(t, m, hex.EncodeToString(shares[0]))
	if second.Progress != 1 || second.Nonce == first.Nonce {
		t.Fatalf("attempts share a nonce or progress wrong: %+v vs %+v", first, second)
	}
}

func TestUnsealWrongShares(t *testing.T) {
	ctx := context.Background()
	m, _, logs := newTestManager(t, 4)
	shares := mustInit(t, m, 5, 3)
	other, _, _ := newTestManager(t, 5)
	foreign := mustInit(t, other, 5, 3)

	tests := []struct {
		name string
		keys [][]byte
	}{
		{"one foreign share", [][]byte{shares[0], shares[1], foreign[2]}},
		{"all foreign", foreign[:3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range tt.keys[:2] {
				mustUnseal(t, m, hex.EncodeToString(k))
			}
			st, err := m.Unseal(ctx, base64.StdEncoding.EncodeToString(tt.keys[2]))
			wantKind(t, err, apierr.KindInvalid, "do not combine into this cluster's root key")
			if !strings.Contains(err.Error(), "progress was reset") {
				t.Fatalf("error does not say progress was reset: %v", err)
			}
			if !st.Sealed || st.Progress != 0 || st.Nonce != "" || !m.Sealed() {
				t.Fatalf("after wrong shares: %+v", st)
			}
			for _, k := range tt.keys {
				if strings.Contains(err.Error(), hex.EncodeToString(k)) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k)) {
					t.Fatal("error contains a key share")
				}
			}
		})
	}
	// Correct shares still work afterwards.
	for _, k := range shares[2:] {
		mustUnseal(t, m, hex.EncodeToString(k))
	}
	if m.Sealed() {
		t.Fatal("correct shares did not unseal after failed attempts")
	}
	checkLogs(t, logs.String(), append(shares, foreign...), "vault unsealed")
}

func TestUnsealBadKey(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t, 6)
	shares := mustInit(t, m, 3, 2)
	mustUnseal(t, m, hex.EncodeToString(shares[0]))

	tests := []struct {
		name, key, want string
	}{
		{"empty", "", "must not be empty"},
		{"spaces", "   ", "must not be empty"},
		{"not hex or base64", "not a key!", "valid hex or base64"},
		{"root-key length", hex.EncodeToString(make([]byte, 32)), "33 bytes"},
		{"too long", hex.EncodeToString(make([]byte, 34)), "33 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := m.Unseal(ctx, tt.key)
			wantKind(t, err, apierr.KindInvalid, tt.want)
			if st.Progress != 1 {
				t.Fatalf("bad key changed progress: %+v", st)
			}
		})
	}
}

func TestSingleShare(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t, 7)
	shares := mustInit(t, m, 1, 1)

	_, err := m.Unseal(ctx, hex.EncodeToString(make([]byte, 32)))
	wantKind(t, err, apierr.KindInvalid, "do not combine")
	_, err = m.Unseal(ctx, hex.EncodeToString(make([]byte, 33)))
	wantKind(t, err, apierr.KindInvalid, "32 bytes")

	if err := m.VerifyShares(ctx, shares); err != nil {
		t.Fatalf("VerifyShares: %v", err)
	}
	wantKind(t, m.VerifyShares(ctx, [][]byte{make([]byte, 32)}), apierr.KindInvalid, "do not combine")

	st := mustUnseal(t, m, base64.StdEncoding.EncodeToString(shares[0]))
	if st.Sealed || st.Progress != 0 || st.T != 1 || st.N != 1 {
		t.Fatalf("after single share: %+v", st)
	}
}

func TestRestartIsSealed(t *testing.T) {
	ctx := context.Background()
	path := newLocation(t)
	store := openStore(t, path)
	m := New(store, nil, nil) // production defaults: crypto/rand, no logs
	shares := mustInit(t, m, 5, 3)
	for _, k := range shares[:3] {
		mustUnseal(t, m, hex.EncodeToString(k))
	}
	if m.Sealed() {
		t.Fatal("not unsealed")
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store = openStore(t, path)
	t.Cleanup(func() { _ = store.Close() })
	m = New(store, nil, nil)
	if !m.Sealed() {
		t.Fatal("fresh Manager is not sealed")
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Status{Type: "shamir", Initialized: true, Sealed: true, T: 3, N: 5}); st != want {
		t.Fatalf("Status after restart = %+v, want %+v", st, want)
	}
	for _, k := range shares[2:] {
		mustUnseal(t, m, base64.RawStdEncoding.EncodeToString(k))
	}
	if m.Sealed() {
		t.Fatal("shares did not unseal after restart")
	}
}

func TestVerifyShares(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t, 8)
	shares := mustInit(t, m, 5, 3)
	other, _, _ := newTestManager(t, 9)
	foreign := mustInit(t, other, 5, 3)

	tests := []struct {
		name   string
		shares [][]byte
		want   string // empty: ok
	}{
		{"threshold", shares[:3], ""},
		{"other subset", [][]byte{shares[4], shares[0], shares[2]}, ""},
		{"all", shares, ""},
		{"too few", shares[:2], "3 key shares are required, got 2"},
		{"none", nil, "3 key shares are required, got 0"},
		{"foreign", foreign[:3], "do not combine"},
		{"mixed", [][]byte{shares[0], shares[1], foreign[0]}, "do not combine"},
		{"wrong length", [][]byte{shares[0], shares[1], shares[2][:32]}, "key share 3 is 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.VerifyShares(ctx, tt.shares)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("VerifyShares: %v", err)
				}
			} else {
				wantKind(t, err, apierr.KindInvalid, tt.want)
			}
			if !m.Sealed() {
				t.Fatal("VerifyShares changed the seal state")
			}
		})
	}
}

// TestConfigReplacedUnderneath simulates replication rewriting the keyspace
// with another cluster's seal config: the Manager must use the new config at
// once and drop progress collected for the old one.
func TestConfigReplacedUnderneath(t *testing.T) {
	ctx := context.Background()
	secondary, _, _ := newTestManager(t, 20)
	oldShares := mustInit(t, secondary, 3, 2)
	primary, _, _ := newTestManager(t, 21)
	primaryShares := mustInit(t, primary, 5, 3)

	mustUnseal(t, secondary, hex.EncodeToString(oldShares[0]))

	doc, err := primary.store.Get(ctx, ConfigKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secondary.store.Write(ctx, storage.Op{Key: ConfigKey, Value: doc}); err != nil {
		t.Fatal(err)
	}

	st, err := secondary.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.T != 3 || st.N != 5 || st.Progress != 0 || st.Nonce != "" {
		t.Fatalf("Status after config replaced: %+v", st)
	}
	if err := secondary.VerifyShares(ctx, primaryShares[1:4]); err != nil {
		t.Fatalf("VerifyShares with primary's shares: %v", err)
	}
	wantKind(t, secondary.VerifyShares(ctx, oldShares), apierr.KindInvalid, "do not combine")
	for _, k := range primaryShares[:3] {
		mustUnseal(t, secondary, hex.EncodeToString(k))
	}
	if secondary.Sealed() {
		t.Fatal("primary's shares did not unseal the secondary")
	}
}

func TestCorruptConfigIsInternalError(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t, 22)
	if _, err := m.store.Write(ctx, storage.Op{Key: ConfigKey, Value: []byte(`{"type":"shamir","secret_shares":3}`)}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Status(ctx)
	if err == nil || apierr.KindOf(err) != 0 || !strings.Contains(err.Error(), ConfigKey) {
		t.Fatalf("Status err = %v, want internal error naming %s", err, ConfigKey)
	}
}

// TestConcurrentUse is meant for -race: parallel unseal, status and seal.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t, 23)
	shares := mustInit(t, m, 10, 4)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				k := shares[(i+j)%len(shares)]
				if _, err := m.Unseal(ctx, hex.EncodeToString(k)); err != nil {
					t.Errorf("Unseal: %v", err)
					return
				}
				if _, err := m.Status(ctx); err != nil {
					t.Errorf("Status: %v", err)
					return
				}
				_ = m.Sealed()
				if j%7 == 6 {
					m.Seal()
				}
			}
		})
	}
	wg.Wait()
	m.Seal()
	for _, k := range shares[:4] {
		mustUnseal(t, m, hex.EncodeToString(k))
	}
	if m.Sealed() {
		t.Fatal("not unsealed after concurrent use")
	}
}

func TestConcurrentInit(t *testing.T) {
	m, _, _ := newTestManager(t, 24)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := m.Init(context.Background(), 3, 2)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		if err == nil {
			ok++
		} else if apierr.KindOf(err) != apierr.KindInvalid {
			t.Fatalf("Init: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent Inits succeeded, want 1", ok)
	}
}

func TestDecodeKey(t *testing.T) {
	key := []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0xff}
	for _, in := range []string{
		"deadbeef0001ff",
		"DEADBEEF0001FF",
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		" " + base64.StdEncoding.EncodeToString(key) + "\r\n",
	} {
		got, err := DecodeKey(in)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("DecodeKey(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"", " ", "abc$", "====", "a"} {
		_, err := DecodeKey(in)
		wantKind(t, err, apierr.KindInvalid, "")
	}
}

func FuzzDecodeKey(f *testing.F) {
	for _, s := range []string{
		"", "00", "abc", "deadbeef", "3q2+7w==", "3q2+7w", "====", "zz", " \n", "a\nb",
		base64.StdEncoding.EncodeToString(make([]byte, 33)), strings.Repeat("f", 66),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := DecodeKey(s)
		if err != nil {
			if apierr.KindOf(err) != apierr.KindInvalid {
				t.Fatalf("DecodeKey(%q): error %v is not Invalid", s, err)
			}
			if trimmed := strings.TrimSpace(s); len(trimmed) >= 4 && strings.Contains(err.Error(), trimmed) {
				t.Fatalf("error echoes the key: %v", err)
			}
		} else if len(out) == 0 {
			t.Fatalf("DecodeKey(%q) returned an empty key without error", s)
		}

		// Any byte string round-trips through hex, and through base64
		// unless that base64 text is also valid hex (hex wins, as in Vault).
		data := []byte(s)
		if len(data) == 0 {
			return
		}
		if got, err := DecodeKey(hex.EncodeToString(data)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("hex round trip of %x: %x, %v", data, got, err)
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			text := enc.EncodeToString(data)
			if _, herr := hex.DecodeString(text); herr == nil {
				continue
			}
			if got, err := DecodeKey(text); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("base64 round trip of %x: %x, %v", data, got, err)
			}
		}
	})
}

// TestUnsealMalformedShareKeepsProgress: a share that cannot be part of a
// correct set (wrong length, x-coordinate 0, the x-coordinate of a different
// share already submitted) is refused without touching progress, at every
// step of an attempt; the attempt then completes with correct shares.
func TestUnsealMalformedShareKeepsProgress(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t, 4)
	shares := mustInit(t, m, 5, 3)
	xZero := append(bytes.Clone(shares[1][:32]), 0)
	sameX := append(bytes.Clone(shares[1][:32]), shares[0][32])
	bad := []struct {
		name, key, want string
	}{
		{"too short", hex.EncodeToString(shares[1][:32]), "32 bytes but this cluster's keys are 33 bytes"},
		{"too long", hex.EncodeToString(append(bytes.Clone(shares[1]), 1)), "34 bytes"},
		{"x-coordinate 0", hex.EncodeToString(xZero), "x-coordinate, is 0"},
		{"x-coordinate of an earlier share", hex.EncodeToString(sameX), "same x-coordinate"},
		{"not hex or base64", "zz$$", "valid hex or base64"},
	}
	for step, good := range shares[:3] {
		before, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			if step == 0 && b.name == "x-coordinate of an earlier share" {
				continue // no earlier share yet
			}
			st, err := m.Unseal(ctx, b.key)
			wantKind(t, err, apierr.KindInvalid, b.want)
			if st.Progress != before.Progress || st.Nonce != before.Nonce || !st.Sealed {
				t.Fatalf("step %d, %s: status %+v, want progress %d nonce %q", step, b.name, st, before.Progress, before.Nonce)
			}
		}
		st := mustUnseal(t, m, hex.EncodeToString(good))
		if step < 2 && st.Progress != step+1 {
			t.Fatalf("step %d: progress %d", step, st.Progress)
		}
	}
	if m.Sealed() {
		t.Fatal("still sealed after three correct shares")
	}
}

// FuzzCheckShare: any decoded share either passes (and then has the length
// a seal of that threshold needs, and for Shamir a nonzero x-coordinate
// unlike any different accepted share's) or is refused with a 400 that does
// not contain it.
func FuzzCheckShare(f *testing.F) {
	good := append(bytes.Repeat([]byte{0xab}, rootKeyLen), 1)
	f.Add(good, 3, []byte(nil))
	f.Add(good[:rootKeyLen], 1, []byte(nil))
	f.Add(append(bytes.Clone(good[:rootKeyLen]), 0), 2, []byte(nil))
	f.Add(good, 2, append(bytes.Repeat([]byte{0xcd}, rootKeyLen), 1))
	f.Add([]byte{}, 0, []byte{1})
	f.Fuzz(func(t *testing.T, share []byte, threshold int, accepted []byte) {
		prior := [][]byte{}
		if len(accepted) > 0 {
			prior = append(prior, accepted)
		}
		err := CheckShare(share, threshold, prior)
		if err != nil {
			if apierr.KindOf(err) != apierr.KindInvalid {
				t.Fatalf("CheckShare: %v is not Invalid", err)
			}
			if len(share) >= 4 && strings.Contains(err.Error(), hex.EncodeToString(share)) {
				t.Fatalf("error echoes the share: %v", err)
			}
			return
		}
		if len(share) != KeyLen(threshold) {
			t.Fatalf("accepted a %d-byte share for threshold %d", len(share), threshold)
		}
		if threshold != 1 {
			x := share[len(share)-1]
			if x == 0 {
				t.Fatal("accepted x-coordinate 0")
			}
			if len(accepted) == len(share) && accepted[len(accepted)-1] == x && !bytes.Equal(accepted, share) {
				t.Fatal("accepted a share with a taken x-coordinate")
			}
		}
	})
}

// FuzzUnsealShare submits arbitrary key text to a sealed cluster after one
// correct share: it never panics, and it is either refused with a 400 that
// leaves the progress at 1 and does not echo the key, or counted.
func FuzzUnsealShare(f *testing.F) {
	for _, s := range []string{
		"", "zz", strings.Repeat("ab", 32), strings.Repeat("ab", 32) + "00", strings.Repeat("ab", 34),
		base64.StdEncoding.EncodeToString(make([]byte, 33)), "\n\t", "====",
	} {
		f.Add(s)
	}
	m, _, _ := newTestManager(f, 9)
	shares := mustInit(f, m, 5, 3)
	first := hex.EncodeToString(shares[0])
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		m.ResetUnseal()
		if _, err := m.Unseal(ctx, first); err != nil {
			t.Fatalf("Unseal with a correct share: %v", err)
		}
		st, err := m.Unseal(ctx, key)
		switch {
		case err != nil:
			if apierr.KindOf(err) != apierr.KindInvalid {
				t.Fatalf("Unseal(%q): %v is not a 400", key, err)
			}
			if st.Progress != 1 {
				t.Fatalf("Unseal(%q) refused but progress %d", key, st.Progress)
			}
			if k := strings.TrimSpace(key); len(k) >= 8 && strings.Contains(err.Error(), k) {
				t.Fatalf("error echoes the key: %v", err)
			}
		case st.Progress != 1 && st.Progress != 2: // 1: the first share again, which unseal ignores
			t.Fatalf("Unseal(%q) accepted but progress %d", key, st.Progress)
		}
		if !m.Sealed() {
			t.Fatalf("Unseal(%q) unsealed with one correct share", key)
		}
	})
}
