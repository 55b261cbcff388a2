package optoken

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// TestKindMintsAndNames: a Generator made by NewKind hands out what its
// Mint makes, names its own token and endpoint in messages and logs, and
// stores no operation token.
func TestKindMintsAndNames(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const minted = "hvs.MINTEDxxxxxxxxxxxxxxxxx1"
	mintErr := errors.New("store is down")
	var fail bool
	logs := &syncBuffer{}
	e.gen = NewKind(e.store, e.seal, nil, slog.New(slog.NewTextHandler(logs, nil)), Kind{
		What:        "root token",
		LogWhat:     "root token",
		AttemptPath: "sys/generate-root/attempt",
		KeyOwner:    "this cluster's",
		Mint: func(context.Context, string) (string, error) {
			if fail {
				return "", mintErr
			}
			return minted, nil
		},
	})

	_, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), "x")
	wantKind(t, err, apierr.KindInvalid, "no root token generation in progress: start one with PUT sys/generate-root/attempt")
	st, err := e.gen.Start(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.gen.Start(ctx, "", "")
	wantKind(t, err, apierr.KindInvalid, "a root token generation is already in progress")
	_, err = e.gen.Update(ctx, hex.EncodeToString(e.shares[0]), "wrong")
	wantKind(t, err, apierr.KindInvalid, "running root token generation attempt")

	// A failing Mint does not consume the last share.
	for i := range 2 {
		if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[i]), st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	fail = true
	if _, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[2]), st.Nonce); !errors.Is(err, mintErr) {
		t.Fatalf("Update with a failing Mint: %v", err)
	}
	fail = false
	done, err := e.gen.Update(ctx, hex.EncodeToString(e.shares[2]), st.Nonce)
	if err != nil || !done.Complete {
		t.Fatalf("Update after the Mint recovered = %+v, %v", done, err)
	}
	if got := decodeToken(t, done.EncodedToken, st.OTP); got != minted {
		t.Fatalf("decoded %q, want the minted token", got)
	}
	if err := e.gen.Check(ctx, minted); apierr.KindOf(err) != apierr.KindPermissionDenied {
		t.Fatalf("the minted token became a DR operation token: %v", err)
	}
	if !strings.Contains(logs.String(), "root token generated") || strings.Contains(logs.String(), "DR operation") {
		t.Fatalf("log does not name the root token: %s", logs)
	}

	// Shares of another cluster: the message names this cluster's key.
	if _, err := e.gen.Start(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	st, _ = e.gen.Status(ctx)
	other := otherShares(t)
	for i := range 3 {
		_, err = e.gen.Update(ctx, hex.EncodeToString(other[i]), st.Nonce)
	}
	wantKind(t, err, apierr.KindInvalid, "do not combine into this cluster's root key")
}
