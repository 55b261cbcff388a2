package drcrypto

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustExchangeKey(t testing.TB) *ecdh.PrivateKey {
	t.Helper()
	k, err := NewExchangeKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testBundle(t testing.TB) Bundle {
	t.Helper()
	ca, err := NewCA("cluster-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _, err := ca.IssueClient("sec-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return Bundle{
		ClusterID:          "cluster-1",
		SecondaryID:        "sec-1",
		PrimaryClusterAddr: "https://primary:8201",
		PrimaryAPIAddr:     "https://primary:8200",
		CACert:             string(ca.CertPEM),
		ClientCert:         string(cert),
		ClientKey:          string(key),
		Epoch:              7,
		ExpiresAt:          time.Now().Add(time.Hour).Unix(),
	}
}

func TestBundleRoundTrip(t *testing.T) {
	priv := mustExchangeKey(t)
	pub, err := ParsePublicKey(PublicKeyString(priv))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []Bundle{testBundle(t), {}, {ClusterID: "c", Epoch: 0}} {
		sealed, err := SealBundle(pub, b)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(sealed, "=+/.") {
			t.Errorf("sealed bundle is not unpadded base64url without dots")
		}
		if b.ClientKey != "" && strings.Contains(sealed, "PRIVATE") {
			t.Error("sealed bundle leaks plaintext")
		}
		got, err := OpenBundle(priv, sealed)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Errorf("opened %+v, want %+v", got, b)
		}
		// Pasted values often carry a trailing newline.
		if _, err := OpenBundle(priv, " "+sealed+"\n"); err != nil {
			t.Errorf("surrounding whitespace: %v", err)
		}
	}
	// Sealing is randomized: the same bundle never yields the same token.
	b := testBundle(t)
	s1, _ := SealBundle(pub, b)
	s2, _ := SealBundle(pub, b)
	if s1 == s2 {
		t.Error("two seals of one bundle are identical")
	}
}

func TestOpenBundleErrors(t *testing.T) {
	priv := mustExchangeKey(t)
	other := mustExchangeKey(t)
	sealed, err := SealBundle(priv.PublicKey(), testBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sealed)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}
	withVersion := func(v byte) string {
		b := append([]byte(nil), raw...)
		b[0] = v
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// A well-formed envelope whose ciphertext is not JSON.
	notJSON := sealRaw(t, priv.PublicKey(), []byte("not json"))

	tests := []struct {
		name  string
		key   *ecdh.PrivateKey
		token string
		want  error
	}{
		{"wrong key", other, sealed, ErrWrongKey},
		{"tampered ciphertext", priv, flip(len(raw) - 1), ErrWrongKey},
		{"tampered salt", priv, flip(1 + p521PointLen), ErrWrongKey},
		{"tampered nonce", priv, flip(bundleHdrLen - 1), ErrWrongKey},
		{"tampered ephemeral key", priv, flip(40), ErrMalformed}, // no longer on the curve
		{"garbage", priv, "this is not a bundle!", ErrMalformed},
		{"empty", priv, "", ErrMalformed},
		{"padded base64", priv, sealed + "=", ErrMalformed},
		{"std base64", priv, base64.StdEncoding.EncodeToString(raw), ErrMalformed},
		{"truncated", priv, sealed[:100], ErrMalformed},
		{"version 2", priv, withVersion(2), ErrMalformed},
		{"version 0", priv, withVersion(0), ErrMalformed},
		{"a JWT", priv, "eyJhbGciOiJFUzUxMiJ9.e30.c2ln", ErrMalformed},
		{"authenticated non-JSON", priv, notJSON, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenBundle(tt.key, tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if len(tt.token) > 8 && strings.Contains(err.Error(), tt.token) {
				t.Fatal("error message contains the token")
			}
		})
	}
	if !strings.Contains(ErrWrongKey.Error(), "encrypted to a different key") {
		t.Errorf("ErrWrongKey message %q", ErrWrongKey)
	}
	if _, err := OpenBundle(nil, sealed); err == nil {
		t.Error("nil key accepted")
	}
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := OpenBundle(x, sealed); err == nil {
		t.Error("X25519 key accepted")
	}
	if _, err := SealBundle(nil, Bundle{}); err == nil {
		t.Error("SealBundle accepted a nil key")
	}
	if _, err := SealBundle(x.PublicKey(), Bundle{}); err == nil {
		t.Error("SealBundle accepted an X25519 key")
	}
}

// sealRaw seals arbitrary plaintext exactly as SealBundle would.
func sealRaw(t *testing.T, pub *ecdh.PublicKey, plaintext []byte) string {
	t.Helper()
	eph, _ := ecdh.P521().GenerateKey(rand.Reader)
	secret, err := eph.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, saltLen)
	nonce := make([]byte, gcmNonceLen)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	hdr := append([]byte{bundleVersion}, eph.PublicKey().Bytes()...)
	hdr = append(hdr, salt...)
	hdr = append(hdr, nonce...)
	aead, err := bundleKey(secret, salt)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(hdr, nonce, plaintext, hdr))
}

func TestParsePublicKey(t *testing.T) {
	priv := mustExchangeKey(t)
	good := PublicKeyString(priv)
	raw, _ := base64.StdEncoding.DecodeString(good)
	offCurve := append([]byte(nil), raw...)
	offCurve[len(offCurve)-1] ^= 1
	compressed := append([]byte{0x02 | raw[len(raw)-1]&1}, raw[1:67]...)
	p256, _ := ecdh.P256().GenerateKey(rand.Reader)
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)

	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"valid", good, ""},
		{"valid with newline", good + "\n", ""},
		{"empty", "  ", "empty"},
		{"not base64", "not base64!", "not valid base64"},
		{"base64url", base64.RawURLEncoding.EncodeToString(raw), "not valid base64"},
		{"off curve", base64.StdEncoding.EncodeToString(offCurve), "not a point on P-521"},
		{"compressed", base64.StdEncoding.EncodeToString(compressed), "decodes to 67 bytes"},
		{"P-256", base64.StdEncoding.EncodeToString(p256.PublicKey().Bytes()), "decodes to 65 bytes"},
		{"X25519", base64.StdEncoding.EncodeToString(x25519.PublicKey().Bytes()), "decodes to 32 bytes"},
		{"PEM", "-----BEGIN PUBLIC KEY-----", "not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := ParsePublicKey(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !pub.Equal(priv.PublicKey()) {
					t.Fatal("parsed a different key")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
			// Every rejection tells the operator what is expected.
			if !strings.Contains(err.Error(), "uncompressed P-521 point") {
				t.Fatalf("error does not say what is expected: %v", err)
			}
		})
	}
}

func TestExchangeKeyMarshal(t *testing.T) {
	priv := mustExchangeKey(t)
	if priv.Curve() != ecdh.P521() {
		t.Fatal("not P-521")
	}
	if n := len(priv.PublicKey().Bytes()); n != 133 {
		t.Fatalf("public key is %d bytes", n)
	}
	pemBytes, err := MarshalExchangeKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalExchangeKey(pemBytes)
	if err != nil || !got.Equal(priv) {
		t.Fatalf("round trip: %v", err)
	}
	// The same scalar as SEC 1 "EC PRIVATE KEY" also loads.
	k, err := x509.ParsePKCS8PrivateKey(mustPEMBytes(t, pemBytes))
	if err != nil {
		t.Fatal(err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("PKCS #8 holds %T", k)
	}
	sec1, _ := x509.MarshalECPrivateKey(ek)
	got, err = UnmarshalExchangeKey(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	if err != nil || !got.Equal(priv) {
		t.Fatalf("SEC 1: %v", err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256PEM, _ := marshalECDSAKeyPEM(p256)
	if _, err := UnmarshalExchangeKey(p256PEM); err == nil {
		t.Error("P-256 key accepted")
	}
	if _, err := UnmarshalExchangeKey([]byte("junk")); err == nil {
		t.Error("junk accepted")
	}
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := MarshalExchangeKey(x); err == nil {
		t.Error("X25519 key marshaled")
	}
}

func mustPEMBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("not PEM")
	}
	return block.Bytes
}
