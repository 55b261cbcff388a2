package httpapi

import (
	"net/http"
	"slices"
	"testing"

	"github.com/hashicorp/vault/sdk/helper/roottoken"
)

// TestGenerateRootThroughClient: a new root token from a quorum of unseal
// key shares, as vault operator generate-root does it, decoded with Vault's
// own roottoken package and then used.
func TestGenerateRootThroughClient(t *testing.T) {
	tc := newUnsealedCluster(t)
	sys := tc.client("").Sys() // unauthenticated, as in Vault

	st, err := sys.GenerateRootStatus()
	if err != nil || st.Started || st.Required != 3 || st.OTPLength != 28 {
		t.Fatalf("GenerateRootStatus before = %+v, %v", st, err)
	}
	st, err = sys.GenerateRootInit("", "")
	if err != nil || !st.Started || st.Nonce == "" || len(st.OTP) != 28 {
		t.Fatalf("GenerateRootInit = %+v, %v; want a nonce and a generated OTP", st, err)
	}
	otp, nonce := st.OTP, st.Nonce
	if again, err := sys.GenerateRootStatus(); err != nil || again.Nonce != nonce || again.OTP != "" {
		t.Fatalf("GenerateRootStatus during = %+v, %v; want the nonce and no OTP", again, err)
	}
	_, err = sys.GenerateRootInit("", "")
	wantResponseError(t, "a second GenerateRootInit", err, http.StatusBadRequest, "already in progress")
	_, err = sys.GenerateRootUpdate(tc.keys[0], "wrong-nonce")
	wantResponseError(t, "GenerateRootUpdate with a wrong nonce", err, http.StatusBadRequest, "nonce does not match")

	for i, k := range tc.keys[:3] {
		if i == 1 {
			_, err = sys.GenerateRootUpdate(tc.keys[0], nonce)
			wantResponseError(t, "the same share twice", err, http.StatusBadRequest, "already submitted")
		}
		st, err = sys.GenerateRootUpdate(k, nonce)
		if err != nil {
			t.Fatalf("GenerateRootUpdate share %d: %v", i+1, err)
		}
		if st.Progress != i+1 || st.Complete != (i == 2) {
			t.Fatalf("after share %d: %+v", i+1, st)
		}
	}
	if st.EncodedToken == "" || st.EncodedRootToken != st.EncodedToken {
		t.Fatalf("completed attempt = %+v; want encoded_token and encoded_root_token", st)
	}
	newRoot, err := roottoken.DecodeToken(st.EncodedToken, otp, st.OTPLength)
	if err != nil {
		t.Fatalf("roottoken.DecodeToken: %v", err)
	}
	self, err := tc.client(newRoot).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("LookupSelf with the generated root token: %v", err)
	}
	if pols, _ := self.TokenPolicies(); !slices.Equal(pols, []string{"root"}) || self.Data["expire_time"] != nil {
		t.Fatalf("generated token = %v; want a never-expiring root token", self.Data)
	}
	if _, err := tc.client(newRoot).Logical().Write("secret/by-new-root", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("write with the generated root token: %v", err)
	}
	if st, err := sys.GenerateRootStatus(); err != nil || st.Started {
		t.Fatalf("GenerateRootStatus after = %+v, %v; want no attempt", st, err)
	}

	// An OTP chosen by the client; then cancelled.
	myOTP := "0123456789abcdefghijABCDEFGH"
	if st, err = sys.GenerateRootInit(myOTP, ""); err != nil || st.OTP != "" {
		t.Fatalf("GenerateRootInit with an otp = %+v, %v", st, err)
	}
	if err := sys.GenerateRootCancel(); err != nil {
		t.Fatalf("GenerateRootCancel: %v", err)
	}
	if st, err := sys.GenerateRootStatus(); err != nil || st.Started {
		t.Fatalf("GenerateRootStatus after cancel = %+v, %v", st, err)
	}

	// Another cluster's shares are the right size but the wrong key.
	other := newUnsealedCluster(t)
	st, err = sys.GenerateRootInit("", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range other.keys[:2] {
		if _, err := sys.GenerateRootUpdate(k, st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	_, err = sys.GenerateRootUpdate(other.keys[2], st.Nonce)
	wantResponseError(t, "another cluster's shares", err, http.StatusBadRequest, "do not combine into this cluster's root key")

	// Sealed: 503, as every path that needs the cluster unsealed.
	if err := tc.client(newRoot).Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	_, err = sys.GenerateRootStatus()
	wantResponseError(t, "GenerateRootStatus while sealed", err, http.StatusServiceUnavailable, "Vault is sealed")
}
