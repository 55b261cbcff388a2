package seal

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

func hexKeys(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = hex.EncodeToString(k)
	}
	return out
}

// TestRekeyWithVerification: the old quorum makes new shares; until a quorum
// of them is verified the old ones still unseal, afterwards only the new.
func TestRekeyWithVerification(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t, 7)
	raw, err := m.Init(ctx, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	old := hexKeys(raw)
	st, err := m.RekeyInit(ctx, 3, 2, true, nil)
	if err != nil || !st.Started || st.Required != 3 || st.T != 2 || st.N != 3 {
		t.Fatalf("init: %+v, %v", st, err)
	}
	if _, err := m.RekeyInit(ctx, 3, 2, true, nil); apierr.KindOf(err) != apierr.KindInvalid {
		t.Fatalf("second init: %v", err)
	}
	if _, err := m.RekeyUpdate(ctx, old[0], "wrong-nonce"); apierr.KindOf(err) != apierr.KindInvalid {
		t.Fatalf("wrong nonce: %v", err)
	}
	var res RekeyResult
	for _, k := range old[:3] {
		if res, err = m.RekeyUpdate(ctx, k, st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !res.Complete || len(res.Keys) != 3 || len(res.KeysB64) != 3 || res.VerificationNonce == "" {
		t.Fatalf("update answer: %+v", res)
	}
	// Not yet verified: the old shares are still the cluster's.
	if err := m.VerifyShares(ctx, mustDecode(t, old[:3])); err != nil {
		t.Fatalf("old shares before verification: %v", err)
	}
	if _, err := m.VerifyUpdate(ctx, old[0], res.VerificationNonce); err == nil {
		// An old share has the wrong x-coordinates or combines wrongly: it
		// must never complete the verification.
		if v, err := m.VerifyUpdate(ctx, old[1], res.VerificationNonce); err == nil && v.Complete {
			t.Fatal("old shares verified as the new ones")
		}
	}
	if err := m.VerifyCancel(); err != nil {
		t.Fatal(err)
	}
	vs, err := m.VerifyStatus()
	if err != nil || vs.Progress != 0 || vs.Nonce == res.VerificationNonce {
		t.Fatalf("verify status after cancel: %+v, %v", vs, err)
	}
	var v VerifyStatus
	for _, k := range res.Keys[:2] {
		if v, err = m.VerifyUpdate(ctx, k, vs.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !v.Complete {
		t.Fatalf("verification: %+v", v)
	}
	if err := m.VerifyShares(ctx, mustDecode(t, old[:3])); apierr.KindOf(err) != apierr.KindInvalid {
		t.Fatalf("old shares after the rekey: %v", err)
	}
	if err := m.VerifyShares(ctx, mustDecode(t, res.Keys[1:3])); err != nil {
		t.Fatalf("new shares: %v", err)
	}
	if st, _ := m.RekeyStatus(ctx); st.Started {
		t.Fatalf("attempt still open: %+v", st)
	}
}

// TestRekeyWrongSharesCancel: a quorum that is not the root key's cancels
// the attempt and changes nothing.
func TestRekeyWrongSharesCancel(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t, 8)
	raw, err := m.Init(ctx, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := newTestManager(t, 9)
	otherRaw, err := other.Init(ctx, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.RekeyInit(ctx, 1, 1, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for _, k := range hexKeys(otherRaw)[:2] {
		_, last = m.RekeyUpdate(ctx, k, st.Nonce)
	}
	if apierr.KindOf(last) != apierr.KindInvalid {
		t.Fatalf("wrong quorum: %v", last)
	}
	if st, _ := m.RekeyStatus(ctx); st.Started {
		t.Fatal("attempt survived a wrong quorum")
	}
	if err := m.VerifyShares(ctx, raw[:2]); err != nil {
		t.Fatalf("the original shares after a failed rekey: %v", err)
	}
	if _, err := m.RekeyInit(ctx, 2, 2, false, []string{"pgp"}); apierr.KindOf(err) != apierr.KindInvalid {
		t.Fatalf("pgp keys: %v", err)
	}
}

func mustDecode(t *testing.T, keys []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		b, err := DecodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}
