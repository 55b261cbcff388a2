package drcrypto

import (
	"encoding/base64"
	"testing"
	"time"
)

func FuzzParseJWTUnverified(f *testing.F) {
	key := mustWrappingKey(f)
	tok, claims := mustToken(f, key, testNow, time.Hour)
	for _, s := range []string{tok, "", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJFUzUxMiJ9.bnVsbA.AA", tok + "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseJWTUnverified(s)
		_ = LooksLikeJWT(s)
		// Verifying arbitrary input must not panic either, and whatever it
		// accepts must carry the signed claims: ECDSA signatures are
		// malleable ((r, n-s) also verifies), so compare claims, not strings.
		if c, err := VerifyJWT(&key.PublicKey, s, testNow); err == nil && c != claims {
			t.Fatalf("VerifyJWT accepted forged claims %+v", c)
		}
	})
}

func FuzzOpenBundle(f *testing.F) {
	priv := mustExchangeKey(f)
	sealed, err := SealBundle(priv.PublicKey(), Bundle{ClusterID: "c", SecondaryID: "s"})
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sealed)
	f.Add(sealed)
	f.Add("")
	f.Add("AQ")
	f.Add(base64.RawURLEncoding.EncodeToString(raw[:bundleHdrLen]))
	f.Add(base64.RawURLEncoding.EncodeToString(raw[:minSealedBytes]))
	f.Add(sealed[:len(sealed)-1] + "A")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := OpenBundle(priv, s)
		if err == nil && b.ClusterID != "c" {
			t.Fatalf("OpenBundle accepted a forged bundle: %+v", b)
		}
	})
}
