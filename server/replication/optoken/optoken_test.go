package optoken

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/helper/xor"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/seal"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

var (
	uuidV4  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	base62  = regexp.MustCompile(`^[0-9A-Za-z]{28}$`)
	opToken = regexp.MustCompile(`^hvs\.[0-9A-Za-z]{24}$`)
)

type env struct {
	store  *storage.Store
	seal   *seal.Manager
	gen    *Generator
	shares [][]byte
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv opens a fresh database, initialises a 5/3 Shamir seal on it (left
// sealed: VerifyShares only needs the stored verification data) and returns
// a Generator over it.
func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	sm := seal.New(store, nil, nil)
	shares, err := sm.Init(ctx, 5, 3)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	logs := &syncBuffer{}
	gen := New(store, sm, nil, slog.New(slog.NewTextHandler(logs, nil)))
	return &env{store: store, seal: sm, gen: gen, shares: shares, logs: logs}
}

// otherShares returns key shares of an unrelated cluster.
func otherShares(t *testing.T) [][]byte {
	t.Helper()
	return newEnv(t).shares
}

// shareWithNewX picks a share of wrong whose x-coordinate (its last byte)
// none of taken has: x-coordinates are random, and a repeated one is
// refused as such before the combination this test is about is tried.
func shareWithNewX(t *testing.T, wrong, taken [][]byte) []byte {
	t.Helper()
	for _, w := range wrong {
		if !slices.ContainsFunc(taken, func(s []byte) bool { return s[len(s)-1] == w[len(w)-1] }) {
			return w
		}
	}
	t.Fatal("every wrong share repeats an x-coordinate already taken")
	return nil
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

// decodeToken does what roottoken.DecodeToken(encoded, otp, 28) in
// github.com/hashicorp/vault/sdk/helper/roottoken does for a non-zero OTP
// length, with the same helper (xor.XORBytes). The roottoken package itself
// cannot be imported here without adding go.sum entries for its other
// dependency (go-secure-stdlib/base62), which is outside this package.
func decodeToken(t *testing.T, encoded, otp string) string {
	t.Helper()
	raw, err := base64.RawStdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("decode base64 token %q: %v", encoded, err)
	}
	b, err := xor.XORBytes(raw, []byte(otp))
	if err != nil {
		t.Fatalf("xor token with otp: %v", err)
	}
	return string(b)
}

// generate runs a full generation with the first three shares and returns
// the decoded token.
func (e *env) generate(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	otp := st.OTP
	for i := 0; i < 3; i++ {
		st, err = e.gen.Update(ctx, hex.EncodeToString(e.shares[i]), st.Nonce)
		if err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
	}
	if !st.Complete {
		t.Fatalf("not complete after 3 shares: %+v", st)
	}
	return decodeToken(t, st.EncodedToken, otp)
}

func TestStatusIdle(t *testing.T) {
	e := newEnv(t)
	st, err := e.gen.Status(context.Background())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	want := Status{Required: 3, OTPLength: 28}
	if st != want {
		t.Fatalf("Status = %+v, want %+v", st, want)
	}
}

func TestStartGeneratesOTPOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !st.Started || st.Progress != 0 || st.Required != 3 || st.OTPLength != 28 || st.Complete || st.EncodedToken != "" {
		t.Fatalf("Start status = %+v", st)
	}
	if !base62.MatchString(st.OTP) {
		t.Fatalf("OTP %q is not 28 base62 characters", st.OTP)
	}
	if !uuidV4.MatchString(st.Nonce) {
		t.Fatalf("nonce %q is not a v4 UUID", st.Nonce)
	}
	again, err := e.gen.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if again.OTP != "" || !again.Started || again.Nonce != st.Nonce {
		t.Fatalf("later Status = %+v: want started, same nonce, no OTP", again)
	}
	if strings.Contains(e.logs.String(), st.OTP) {
		t.Fatal("log contains the OTP")
	}
	if !strings.Contains(e.logs.String(), "DR operation token generation started") {
		t.Fatalf("start not logged: %s", e.logs)
	}
}

func TestStartWithClientOTPDoesNotEchoIt(t *testing.T) {
	e := newEnv(t)
	otp := strings.Repeat("a", 28)
	st, err := e.gen.Start(context.Background(), otp, "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st.OTP != "" || !st.Started {
		t.Fatalf("Start status = %+v", st)
	}
}

func TestFullFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	otp, nonce := st.OTP, st.Nonce
	// Shares in both encodings DecodeKey accepts.
	keys := []string{
		hex.EncodeToString(e.shares[4]),
		base64.StdEncoding.EncodeToString(e.shares[1]),
		hex.EncodeToString(e.shares[2]),
	}
	for i, k := range keys {
		st, err = e.gen.Update(ctx, k, nonce)
		if err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
		if i < 2 && (st.Progress != i+1 || st.Complete || st.EncodedToken != "" || !st.Started) {
			t.Fatalf("after share %d: %+v", i+1, st)
		}
	}
	if !st.Complete || !st.Started || st.Progress != 3 || st.Required != 3 || st.Nonce != nonce || st.OTP != "" || st.EncodedRootToken != "" {
		t.Fatalf("final status = %+v", st)
	}
	token := decodeToken(t, st.EncodedToken, otp)
	if !opToken.MatchString(token) {
		t.Fatalf("token %q does not look like hvs. + 24 base62", token)
	}
	if err := e.gen.Check(ctx, token); err != nil {
		t.Fatalf("Check(generated token) = %v", err)
	}
	idle, err := e.gen.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if idle != (Status{Required: 3, OTPLength: 28}) {
		t.Fatalf("status after completion = %+v, want idle", idle)
	}
	logs := e.logs.String()
	if strings.Contains(logs, token) || strings.Contains(logs, otp) || strings.Contains(logs, st.EncodedToken) {
		t.Fatal("log contains a secret")
	}
	for _, k := range keys {
		if strings.Contains(logs, k) {
			t.Fatal("log contains a key share")
		}
	}
	if !strings.Contains(logs, "DR operation token generated") {
		t.Fatalf("completion not logged: %s", logs)
	}
	// Only the hash is stored, in the local keyspace, never replicated.
	names, err := e.store.LocalList(ctx, tokensPrefix)
	if err != nil || len(names) != 1 || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(names[0]) {
		t.Fatalf("LocalList = %v, %v: want one sha256 hex name", names, err)
	}
	if _, err := e.store.Get(ctx, tokensPrefix+names[0]); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("token record found in the replicated keyspace: %v", err)
	}
}

func TestFullFlowWithClientOTP(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	otp := "ABCDEFGHIJKLMNOPQRSTUVWXYZab"
	st, err := e.gen.Start(ctx, otp, "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for i := 0; i < 3; i++ {
		if st, err = e.gen.Update(ctx, hex.EncodeToString(e.shares[i]), st.Nonce); err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
	}
	if err := e.gen.Check(ctx, decodeToken(t, st.EncodedToken, otp)); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestWrongSharesCancelAttempt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	wrong := otherShares(t)
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	nonce := st.Nonce
	for i := 0; i < 2; i++ {
		if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[i]), nonce); err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
	}
	st, err = e.gen.Update(ctx, hex.EncodeToString(shareWithNewX(t, wrong, e.shares[:2])), nonce)
	wantKind(t, err, apierr.KindInvalid, "do not combine into the primary's root key")
	if !strings.Contains(err.Error(), "cancelled") || !strings.Contains(err.Error(), "start again") {
		t.Fatalf("error %q should say the attempt was cancelled and to start again", err)
	}
	if st.Started || st.Complete || st.EncodedToken != "" {
		t.Fatalf("status after failure = %+v, want idle", st)
	}
	if st, _ := e.gen.Status(ctx); st.Started {
		t.Fatalf("attempt still running: %+v", st)
	}
	if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[3]), nonce); apierr.KindOf(err) != apierr.KindInvalid ||
		!strings.Contains(err.Error(), "no operation token generation in progress") {
		t.Fatalf("update after failed attempt: %v", err)
	}
	if names, _ := e.store.LocalList(ctx, tokensPrefix); len(names) != 0 {
		t.Fatalf("tokens stored after failure: %v", names)
	}
}

func TestUpdateErrors(t *testing.T) {
	tests := []struct {
		name string
		// run performs the failing update on a fresh env, after Start when
		// start is true; nonce is the running attempt's.
		start   bool
		run     func(e *env, nonce string) (Status, error)
		substr  string
		wantPrg int
	}{
		{
			name: "no attempt",
			run: func(e *env, _ string) (Status, error) {
				return e.gen.Update(context.Background(), hex.EncodeToString(e.shares[0]), "whatever")
			},
			substr: "no operation token generation in progress: start one with PUT",
		},
		{
			name:  "wrong nonce",
			start: true,
			run: func(e *env, _ string) (Status, error) {
				return e.gen.Update(context.Background(), hex.EncodeToString(e.shares[0]), "00000000-0000-4000-8000-000000000000")
			},
			substr: "nonce does not match the running",
		},
		{
			name:  "empty nonce",
			start: true,
			run: func(e *env, _ string) (Status, error) {
				return e.gen.Update(context.Background(), hex.EncodeToString(e.shares[0]), "")
			},
			substr: "nonce does not match the running",
		},
		{
			name:  "undecodable key",
			start: true,
			run: func(e *env, nonce string) (Status, error) {
				return e.gen.Update(context.Background(), "not a key!", nonce)
			},
			substr: "hex or base64",
		},
		{
			name:  "duplicate share in another encoding",
			start: true,
			run: func(e *env, nonce string) (Status, error) {
				ctx := context.Background()
				if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), nonce); err != nil {
					return Status{}, err
				}
				return e.gen.Update(ctx, base64.StdEncoding.EncodeToString(e.shares[0]), nonce)
			},
			substr:  "this key share was already submitted in this attempt",
			wantPrg: 1,
		},
		{
			name:  "share one byte short after a good one",
			start: true,
			run: func(e *env, nonce string) (Status, error) {
				ctx := context.Background()
				if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), nonce); err != nil {
					return Status{}, err
				}
				return e.gen.Update(ctx, hex.EncodeToString(e.shares[1][:32]), nonce)
			},
			substr:  "key share is 32 bytes but this cluster's key shares are 33 bytes",
			wantPrg: 1,
		},
		{
			name:  "share one byte long",
			start: true,
			run: func(e *env, nonce string) (Status, error) {
				return e.gen.Update(context.Background(), hex.EncodeToString(append(bytes.Clone(e.shares[1]), 7)), nonce)
			},
			substr: "key share is 34 bytes",
		},
		{
			name:  "share with x-coordinate 0",
			start: true,
			run: func(e *env, nonce string) (Status, error) {
				return e.gen.Update(context.Background(), hex.EncodeToString(append(bytes.Clone(e.shares[1][:32]), 0)), nonce)
			},
			substr: "x-coordinate, is 0",
		},
		{
			name:  "share with the x-coordinate of an earlier one",
			start: true,
			run: func(e *env, nonce string) (Status, error) {
				ctx := context.Background()
				if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), nonce); err != nil {
					return Status{}, err
				}
				return e.gen.Update(ctx, hex.EncodeToString(append(bytes.Clone(e.shares[1][:32]), e.shares[0][32])), nonce)
			},
			substr:  "same x-coordinate as a different key share",
			wantPrg: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var nonce string
			if tc.start {
				st, err := e.gen.Start(context.Background(), "", "")
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				nonce = st.Nonce
			}
			st, err := tc.run(e, nonce)
			wantKind(t, err, apierr.KindInvalid, tc.substr)
			if st.Started != tc.start || st.Progress != tc.wantPrg || st.Nonce != nonce {
				t.Fatalf("status = %+v, want started=%v progress=%d nonce=%q", st, tc.start, tc.wantPrg, nonce)
			}
			// The attempt keeps its progress: the remaining shares complete it.
			if tc.start {
				for i := tc.wantPrg; i < 3; i++ {
					if st, err = e.gen.Update(context.Background(), hex.EncodeToString(e.shares[i]), nonce); err != nil {
						t.Fatalf("Update %d: %v", i, err)
					}
				}
				if !st.Complete {
					t.Fatalf("attempt did not complete after the error: %+v", st)
				}
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name   string
		otp    string
		pgp    string
		substr string
	}{
		{name: "otp too short", otp: "short", substr: "otp must be 28 characters long, got 5"},
		{name: "otp too long", otp: strings.Repeat("x", 29), substr: "otp must be 28 characters long, got 29"},
		{name: "otp not ascii", otp: strings.Repeat("é", 14), substr: "ASCII"},
		{name: "pgp", pgp: "mQENBFXbjPUBCADjNjCUQwfxKL+RR2GA6pv/1K+zJZ8UWIF9S0lk7cVIEfJiprzz", substr: "PGP-encrypted operation tokens are not supported by this server: send an otp or nothing"},
		{name: "pgp and otp", otp: strings.Repeat("a", 28), pgp: "key", substr: "PGP-encrypted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			st, err := e.gen.Start(context.Background(), tc.otp, tc.pgp)
			wantKind(t, err, apierr.KindInvalid, tc.substr)
			if st.Started || st.OTP != "" {
				t.Fatalf("status after rejected start = %+v", st)
			}
		})
	}
}

func TestSecondStart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), first.Nonce); err != nil {
		t.Fatalf("Update: %v", err)
	}
	st, err := e.gen.Start(ctx, "", "")
	wantKind(t, err, apierr.KindInvalid, "an operation token generation is already in progress (nonce "+first.Nonce+")")
	if !strings.Contains(err.Error(), "DELETE") {
		t.Fatalf("error %q does not say how to cancel", err)
	}
	if st.Nonce != first.Nonce || st.Progress != 1 || st.OTP != "" {
		t.Fatalf("status = %+v, want the first attempt unchanged and no OTP", st)
	}
}

func TestStartUninitialized(t *testing.T) {
	ctx := context.Background()
	store, err := storage.Open(ctx, filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	gen := New(store, seal.New(store, nil, nil), nil, nil)
	st, err := gen.Status(ctx)
	if err != nil || st != (Status{OTPLength: 28}) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	_, err = gen.Start(ctx, "", "")
	wantKind(t, err, apierr.KindInvalid, "not initialized")
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.gen.Cancel(ctx); err != nil {
		t.Fatalf("Cancel with nothing running: %v", err)
	}
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), st.Nonce); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := e.gen.Cancel(ctx); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if st, _ := e.gen.Status(ctx); st.Started || st.Progress != 0 || st.Nonce != "" {
		t.Fatalf("status after cancel = %+v", st)
	}
	if !strings.Contains(e.logs.String(), "DR operation token generation cancelled") {
		t.Fatalf("cancel not logged: %s", e.logs)
	}
	// A new attempt starts from zero with a new nonce.
	st2, err := e.gen.Start(ctx, "", "")
	if err != nil || st2.Nonce == st.Nonce || st2.Progress != 0 {
		t.Fatalf("restart = %+v, %v", st2, err)
	}
}

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.generate(t), e.generate(t)
	if a == b {
		t.Fatal("two generations returned the same token")
	}
	if err := e.gen.Revoke(ctx, a); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	wantKind(t, e.gen.Check(ctx, a), apierr.KindPermissionDenied, "dr_operation_token")
	if err := e.gen.Check(ctx, b); err != nil {
		t.Fatalf("other token affected by Revoke: %v", err)
	}
	wantKind(t, e.gen.Revoke(ctx, a), apierr.KindPermissionDenied, "dr_operation_token")
}

func TestRevokeAll(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.gen.RevokeAll(ctx); err != nil {
		t.Fatalf("RevokeAll with no tokens: %v", err)
	}
	tokens := []string{e.generate(t), e.generate(t), e.generate(t)}
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), st.Nonce); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := e.gen.RevokeAll(ctx); err != nil {
		t.Fatalf("RevokeAll: %v", err)
	}
	for _, tok := range tokens {
		wantKind(t, e.gen.Check(ctx, tok), apierr.KindPermissionDenied, "dr_operation_token")
	}
	if st, _ := e.gen.Status(ctx); st.Started {
		t.Fatalf("attempt survived RevokeAll: %+v", st)
	}
	// Generation works again afterwards.
	if err := e.gen.Check(ctx, e.generate(t)); err != nil {
		t.Fatalf("Check after RevokeAll and new generation: %v", err)
	}
}

func TestCheckRejects(t *testing.T) {
	e := newEnv(t)
	generated := e.generate(t)
	other := newEnv(t).generate(t)
	for _, tok := range []string{"", "garbage", "hvs.AAAAAAAAAAAAAAAAAAAAAAAA", "../../../etc", "\x00\xff", generated + " ", other} {
		err := e.gen.Check(context.Background(), tok)
		wantKind(t, err, apierr.KindPermissionDenied,
			"invalid dr_operation_token: it is unknown, revoked or was generated on another cluster; generate one with generate-operation-token")
		if tok != "" && strings.Contains(err.Error(), tok) {
			t.Fatalf("error %q repeats the token", err)
		}
	}
}

// TestTokensSurviveRestart checks that tokens are durable while an attempt
// is not: a restart must not leave shares anywhere.
func TestTokensSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	store, err := storage.Open(ctx, path, storage.Options{})
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	sm := seal.New(store, nil, nil)
	shares, err := sm.Init(ctx, 5, 3)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	e := &env{store: store, seal: sm, gen: New(store, sm, nil, nil), shares: shares}
	token := e.generate(t)
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := e.gen.Update(ctx, hex.EncodeToString(shares[0]), st.Nonce); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	store2, err := storage.Open(ctx, path, storage.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = store2.Close() })
	gen2 := New(store2, seal.New(store2, nil, nil), nil, nil)
	if err := gen2.Check(ctx, token); err != nil {
		t.Fatalf("Check after restart: %v", err)
	}
	if st, _ := gen2.Status(ctx); st.Started {
		t.Fatalf("attempt survived restart: %+v", st)
	}
}

// fakeVerifier lets a test make VerifyShares fail with an internal error.
type fakeVerifier struct {
	err error
}

func (f *fakeVerifier) VerifyShares(context.Context, [][]byte) error { return f.err }
func (f *fakeVerifier) Status(context.Context) (seal.Status, error) {
	return seal.Status{Initialized: true, T: 2, N: 3}, nil
}

func TestInternalVerifyErrorKeepsShare(t *testing.T) {
	ctx := context.Background()
	store, err := storage.Open(ctx, filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	boom := errors.New("disk on fire")
	fv := &fakeVerifier{err: boom}
	gen := New(store, fv, nil, nil)
	st, err := gen.Start(ctx, "", "")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	// Well-formed 33-byte shares with distinct x-coordinates.
	shareA, shareB := strings.Repeat("aa", 32)+"01", strings.Repeat("bb", 32)+"02"
	if _, err := gen.Update(ctx, shareA, st.Nonce); err != nil {
		t.Fatalf("Update 1: %v", err)
	}
	if _, err := gen.Update(ctx, shareB, st.Nonce); !errors.Is(err, boom) || apierr.KindOf(err) != 0 {
		t.Fatalf("Update 2 = %v, want internal error wrapping %v", err, boom)
	}
	// The failed share was not consumed: resubmitting it completes.
	fv.err = nil
	st2, err := gen.Update(ctx, shareB, st.Nonce)
	if err != nil || !st2.Complete {
		t.Fatalf("resubmit = %+v, %v", st2, err)
	}
	if err := gen.Check(ctx, decodeToken(t, st2.EncodedToken, st.OTP)); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// seqReader returns its bytes, then fails.
type seqReader struct{ b []byte }

func (r *seqReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errors.New("exhausted")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestRandomBase62RejectsBiasedBytes(t *testing.T) {
	// 248..255 would map to 0..7 under a plain modulo; they must be skipped.
	src := []byte{255, 248, 0, 61, 62, 247, 250, 10}
	g := New(nil, nil, &seqReader{b: append(src, make([]byte, 64)...)}, nil)
	got, err := g.randomBase62(5)
	if err != nil {
		t.Fatalf("randomBase62: %v", err)
	}
	if want := "0z0zA"; got != want {
		t.Fatalf("randomBase62 = %q, want %q", got, want)
	}
	if _, err := New(nil, nil, &seqReader{}, nil).randomBase62(5); err == nil {
		t.Fatal("randomBase62 with a failing reader returned no error")
	}
}

func TestEncodeTokenMatchesVault(t *testing.T) {
	// Same construction as roottoken.EncodeToken: XOR(otp, token), raw base64.
	token := "hvs.ABCDEFGHIJKLMNOPQRSTUVWX"
	otp := "0123456789abcdefghijklmnopqr"
	x, err := xor.XORBytes([]byte(otp), []byte(token))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := encodeToken(token, otp), base64.RawStdEncoding.EncodeToString(x); got != want {
		t.Fatalf("encodeToken = %q, want %q", got, want)
	}
	if got := decodeToken(t, encodeToken(token, otp), otp); got != token {
		t.Fatalf("round trip = %q", got)
	}
}

// FuzzUpdateShare submits arbitrary key text to a running attempt after one
// correct share: it never panics, is either refused with a 400 that leaves
// the progress at 1 and does not echo the key, or counted (progress 2); and
// a correct attempt still completes afterwards.
func FuzzUpdateShare(f *testing.F) {
	for _, s := range []string{
		"", "00", "zz", "not a key!", strings.Repeat("ab", 32), strings.Repeat("ab", 33), strings.Repeat("ab", 32) + "00",
		strings.Repeat("ab", 34), base64.StdEncoding.EncodeToString(make([]byte, 33)), " \n", "====",
	} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		_ = e.gen.Cancel(ctx)
		st, err := e.gen.Start(ctx, "", "")
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), st.Nonce); err != nil {
			t.Fatalf("Update with a correct share: %v", err)
		}
		got, err := e.gen.Update(ctx, key, st.Nonce)
		switch {
		case err != nil:
			if apierr.KindOf(err) != apierr.KindInvalid {
				t.Fatalf("Update(%q): %v is not a 400", key, err)
			}
			if got.Progress != 1 || got.Nonce != st.Nonce {
				t.Fatalf("Update(%q) refused but status %+v, want progress 1 of nonce %s", key, got, st.Nonce)
			}
			if k := strings.TrimSpace(key); len(k) >= 8 && strings.Contains(err.Error(), k) {
				t.Fatalf("error echoes the key: %v", err)
			}
		case got.Progress != 2:
			t.Fatalf("Update(%q) accepted but progress %d", key, got.Progress)
		}
	})
}

// TestScopeBindsTokens: a token is valid only while the scope it was
// generated in is current, including a token whose attempt started before
// the scope changed.
func TestScopeBindsTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	scope := "set-1|secondary|a"
	e.gen.SetScope(func() string { mu.Lock(); defer mu.Unlock(); return scope })
	setScope := func(s string) { mu.Lock(); scope = s; mu.Unlock() }

	token := e.generate(t)
	if err := e.gen.Check(ctx, token); err != nil {
		t.Fatalf("Check in its own scope: %v", err)
	}
	setScope("set-2|secondary|b")
	wantKind(t, e.gen.Check(ctx, token), apierr.KindPermissionDenied, "invalid dr_operation_token")
	setScope("set-1|secondary|a")
	if err := e.gen.Check(ctx, token); err != nil {
		t.Fatalf("Check back in its own scope: %v", err)
	}

	// An attempt started in one scope yields a token of that scope.
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	otp := st.OTP
	for i := range 2 {
		if st, err = e.gen.Update(ctx, hex.EncodeToString(e.shares[i]), st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	setScope("set-1|disabled|c")
	st, err = e.gen.Update(ctx, hex.EncodeToString(e.shares[2]), st.Nonce)
	if err != nil || !st.Complete {
		t.Fatalf("last update: %+v %v", st, err)
	}
	late := decodeToken(t, st.EncodedToken, otp)
	wantKind(t, e.gen.Check(ctx, late), apierr.KindPermissionDenied, "invalid dr_operation_token")
}
