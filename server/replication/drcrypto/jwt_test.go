package drcrypto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func mustWrappingKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := NewWrappingKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustToken(t testing.TB, key *ecdsa.PrivateKey, now time.Time, ttl time.Duration) (string, Claims) {
	t.Helper()
	c, err := NewClaims("https://primary.example:8200", now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := SignJWT(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok, c
}

func TestNewClaims(t *testing.T) {
	c, err := NewClaims("https://p:8200", testNow, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		Addr: "https://p:8200",
		Iat:  testNow.Unix(),
		Nbf:  testNow.Unix() - 5,
		Exp:  testNow.Add(30 * time.Minute).Unix(),
		JTI:  c.JTI,
		Type: "wrapping",
	}
	if c != want {
		t.Errorf("claims = %+v, want %+v", c, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(c.JTI) {
		t.Errorf("JTI %q is not a v4 UUID", c.JTI)
	}
	c2, _ := NewClaims("https://p:8200", testNow, time.Minute)
	if c2.JTI == c.JTI {
		t.Error("JTI repeated")
	}
	if _, err := NewClaims("x", testNow, 0); err == nil {
		t.Error("zero TTL accepted")
	}
}

func TestJWTRoundTrip(t *testing.T) {
	key := mustWrappingKey(t)
	tok, c := mustToken(t, key, testNow, time.Hour)

	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	hdr, err := b64url.DecodeString(parts[0])
	if err != nil || string(hdr) != `{"alg":"ES512","typ":"JWT"}` {
		t.Errorf("header = %q (%v)", hdr, err)
	}
	sig, err := b64url.DecodeString(parts[2])
	if err != nil || len(sig) != 132 {
		t.Errorf("signature is %d bytes (%v), want 132", len(sig), err)
	}
	if strings.ContainsAny(tok, "=+/") {
		t.Error("token is not unpadded base64url")
	}
	var raw map[string]any
	payload, _ := b64url.DecodeString(parts[1])
	if err := json.Unmarshal(payload, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"addr", "exp", "iat", "nbf", "jti", "accessor", "type"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("payload lacks %q: %s", k, payload)
		}
	}

	got, err := VerifyJWT(&key.PublicKey, tok, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("verified claims %+v, want %+v", got, c)
	}
	un, err := ParseJWTUnverified(tok)
	if err != nil || un != c {
		t.Errorf("unverified claims %+v (%v), want %+v", un, err, c)
	}
	if !LooksLikeJWT(tok) {
		t.Error("LooksLikeJWT(token) = false")
	}
}

// signRaw builds a correctly signed token with an arbitrary header and
// payload, to reach the checks that run after the signature.
func signRaw(t *testing.T, key *ecdsa.PrivateKey, header, payload string) string {
	t.Helper()
	in := b64url.EncodeToString([]byte(header)) + "." + b64url.EncodeToString([]byte(payload))
	digest := sha512.Sum512([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 132)
	r.FillBytes(sig[:66])
	s.FillBytes(sig[66:])
	return in + "." + b64url.EncodeToString(sig)
}

func TestVerifyJWTErrors(t *testing.T) {
	key := mustWrappingKey(t)
	other := mustWrappingKey(t)
	tok, c := mustToken(t, key, testNow, time.Hour)
	parts := strings.Split(tok, ".")

	tamperedClaims := c
	tamperedClaims.Addr = "https://evil.example:8200"
	tp, _ := json.Marshal(tamperedClaims)
	tampered := parts[0] + "." + b64url.EncodeToString(tp) + "." + parts[2]

	sig, _ := b64url.DecodeString(parts[2])
	sig[10] ^= 1
	badSig := parts[0] + "." + parts[1] + "." + b64url.EncodeToString(sig)

	noneHdr := b64url.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	hsHdr := b64url.EncodeToString([]byte(`{"alg":"HS512","typ":"JWT"}`))

	claimsJSON := func(c Claims) string { b, _ := json.Marshal(c); return string(b) }
	noExp := c
	noExp.Exp = 0

	tests := []struct {
		name  string
		token string
		pub   *ecdsa.PublicKey
		now   time.Time
		want  error
	}{
		{"expired", tok, &key.PublicKey, testNow.Add(time.Hour), ErrExpired},
		{"long expired", tok, &key.PublicKey, testNow.Add(48 * time.Hour), ErrExpired},
		{"not yet valid", tok, &key.PublicKey, testNow.Add(-time.Minute), ErrNotYetValid},
		{"another key", tok, &other.PublicKey, testNow, ErrBadSignature},
		{"tampered payload", tampered, &key.PublicKey, testNow, ErrBadSignature},
		{"tampered signature", badSig, &key.PublicKey, testNow, ErrBadSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:20], &key.PublicKey, testNow, ErrBadSignature},
		{"alg none", noneHdr + "." + parts[1] + ".", &key.PublicKey, testNow, ErrMalformed},
		{"alg HS512", hsHdr + "." + parts[1] + "." + parts[2], &key.PublicKey, testNow, ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], &key.PublicKey, testNow, ErrMalformed},
		{"four parts", tok + ".x", &key.PublicKey, testNow, ErrMalformed},
		{"padded", tok + "=", &key.PublicKey, testNow, ErrMalformed},
		{"empty", "", &key.PublicKey, testNow, ErrMalformed},
		{"crit header", signRaw(t, key, `{"alg":"ES512","crit":["x"],"x":1}`, claimsJSON(c)), &key.PublicKey, testNow, ErrMalformed},
		{"typ not JWT", signRaw(t, key, `{"alg":"ES512","typ":"JOSE+JSON"}`, claimsJSON(c)), &key.PublicKey, testNow, ErrMalformed},
		{"payload not object", signRaw(t, key, jwtHeader, `[1,2]`), &key.PublicKey, testNow, ErrMalformed},
		{"payload bad types", signRaw(t, key, jwtHeader, `{"exp":"soon"}`), &key.PublicKey, testNow, ErrMalformed},
		{"no exp", signRaw(t, key, jwtHeader, claimsJSON(noExp)), &key.PublicKey, testNow, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyJWT(tt.pub, tt.token, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatal("error message contains the token")
			}
		})
	}

	// Exactly at exp the token is already expired; a second before it is not.
	if _, err := VerifyJWT(&key.PublicKey, tok, time.Unix(c.Exp, 0)); !errors.Is(err, ErrExpired) {
		t.Errorf("at exp: %v", err)
	}
	if _, err := VerifyJWT(&key.PublicKey, tok, time.Unix(c.Exp-1, 0)); err != nil {
		t.Errorf("just before exp: %v", err)
	}
	// The nbf backdating tolerates a secondary clock a few seconds behind.
	if _, err := VerifyJWT(&key.PublicKey, tok, testNow.Add(-4*time.Second)); err != nil {
		t.Errorf("4s before iat: %v", err)
	}
	// Wrong curve keys are refused outright.
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := VerifyJWT(&p256.PublicKey, tok, testNow); err == nil {
		t.Error("P-256 public key accepted")
	}
	if _, err := SignJWT(p256, c); err == nil {
		t.Error("SignJWT accepted a P-256 key")
	}
	if _, err := VerifyJWT(nil, tok, testNow); err == nil {
		t.Error("nil public key accepted")
	}
}

// TestJWTInteropGoJose checks the token against an independent JOSE
// implementation in both directions.
func TestJWTInteropGoJose(t *testing.T) {
	key := mustWrappingKey(t)
	tok, c := mustToken(t, key, time.Now(), time.Hour)

	obj, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES512})
	if err != nil {
		t.Fatalf("go-jose cannot parse our token: %v", err)
	}
	payload, err := obj.Verify(&key.PublicKey)
	if err != nil {
		t.Fatalf("go-jose rejects our signature: %v", err)
	}
	var got Claims
	if err := json.Unmarshal(payload, &got); err != nil || got != c {
		t.Fatalf("go-jose payload %s (%v), want %+v", payload, err, c)
	}
	other := mustWrappingKey(t)
	if _, err := obj.Verify(&other.PublicKey); err == nil {
		t.Fatal("go-jose verified our token under another key")
	}

	// And a token signed by go-jose verifies here.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES512, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(c)
	js, err := signer.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := js.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	got, err = VerifyJWT(&key.PublicKey, compact, time.Now())
	if err != nil || got != c {
		t.Fatalf("go-jose token: %+v (%v), want %+v", got, err, c)
	}
}

func TestParseJWTUnverified(t *testing.T) {
	key := mustWrappingKey(t)
	// Expired and signed by an unknown key: still readable, since the
	// secondary only wants addr/exp and the primary does the verifying.
	tok, c := mustToken(t, key, testNow.Add(-100*time.Hour), time.Minute)
	got, err := ParseJWTUnverified(tok)
	if err != nil || got != c {
		t.Fatalf("got %+v (%v), want %+v", got, err, c)
	}
	for _, bad := range []string{"", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.", b64url.EncodeToString([]byte(`{"alg":"none"}`)) + ".e30.", tok[:len(tok)/2]} {
		if _, err := ParseJWTUnverified(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseJWTUnverified(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	key := mustWrappingKey(t)
	tok, _ := mustToken(t, key, testNow, time.Hour)
	ek, _ := NewExchangeKey()
	sealed, err := SealBundle(ek.PublicKey(), Bundle{ClusterID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want bool
	}{
		{tok, true},
		{"eyJh.eyJi.c2ln", true},
		{sealed, false},
		{"", false},
		{"a.b", false},
		{"a..c", false},
		{"a.b.c.d", false},
		{"a+b.c.d", false},
		{"hvs.CAESIJ", false},
	}
	for _, tt := range tests {
		if got := LooksLikeJWT(tt.in); got != tt.want {
			t.Errorf("LooksLikeJWT(%.20q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestWrappingKeyMarshal(t *testing.T) {
	key := mustWrappingKey(t)
	if key.Curve != elliptic.P521() {
		t.Fatalf("curve %s", key.Curve.Params().Name)
	}
	pemBytes, err := MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pemBytes), "-----BEGIN EC PRIVATE KEY-----") {
		t.Errorf("unexpected PEM: %.40s", pemBytes)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256PEM, _ := marshalECDSAKeyPEM(p256)
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
	}{
		{"sec1", pemBytes, false},
		{"pkcs8", pkcs8, false},
		{"p256", p256PEM, true},
		{"garbage", []byte("x"), true},
		{"cert block", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), true},
		{"bad der", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnmarshalKey(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil || !got.Equal(key) {
				t.Fatalf("got different key (%v)", err)
			}
		})
	}
	if _, err := MarshalKey(p256); err == nil {
		t.Error("MarshalKey accepted a P-256 key")
	}
}
