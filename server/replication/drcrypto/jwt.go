package drcrypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
)

// Claims are the claims of an activation (wrapping) token, laid out as in
// Vault's wrapping JWTs so the secondary can read addr and exp the same way.
type Claims struct {
	Addr     string `json:"addr"`
	Exp      int64  `json:"exp"`
	Iat      int64  `json:"iat"`
	Nbf      int64  `json:"nbf"`
	JTI      string `json:"jti"`
	Accessor string `json:"accessor"`
	Type     string `json:"type"`
}

const (
	// jwtHeader is the exact protected header of every token we sign. It is a
	// constant rather than marshaled so its bytes never vary.
	jwtHeader = `{"alg":"ES512","typ":"JWT"}`
	// p521ScalarLen is the byte length of a P-521 scalar: ceil(521/8).
	p521ScalarLen = 66
	// nbfSkew backdates nbf so a secondary whose clock is slightly behind
	// the primary's can still use a token issued a moment ago.
	nbfSkew = 5 * time.Second
)

// b64url is the JWS base64url encoding (RFC 7515 §2): no padding. Strict
// decoding rejects non-canonical trailing bits, so one token has exactly one
// encoding and cannot be altered without touching the signed bytes.
var b64url = base64.RawURLEncoding.Strict()

// NewClaims returns the claims of a fresh wrapping token for the primary API
// address addr, valid from now (backdated by a few seconds) for ttl.
func NewClaims(addr string, now time.Time, ttl time.Duration) (Claims, error) {
	if ttl <= 0 {
		return Claims{}, errors.New("drcrypto: token TTL must be positive")
	}
	jti, err := newID()
	if err != nil {
		return Claims{}, err
	}
	return Claims{
		Addr: addr,
		Iat:  now.Unix(),
		Nbf:  now.Add(-nbfSkew).Unix(),
		Exp:  now.Add(ttl).Unix(),
		JTI:  jti,
		Type: "wrapping",
	}, nil
}

// newID returns a random UUID, the shape Vault uses for token identifiers.
func newID() (string, error) {
	id, err := randid.UUID(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("drcrypto: generating token ID: %w", err)
	}
	return id, nil
}

// SignJWT signs c as a compact JWS with ES512 (RFC 7518 §3.4): SHA-512 over
// the signing input, signature R||S each left-padded to 66 bytes.
func SignJWT(key *ecdsa.PrivateKey, c Claims) (string, error) {
	if key == nil || key.Curve != elliptic.P521() {
		return "", errors.New("drcrypto: ES512 requires a P-521 ECDSA key")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("drcrypto: encoding claims: %w", err)
	}
	signingInput := b64url.EncodeToString([]byte(jwtHeader)) + "." + b64url.EncodeToString(payload)
	digest := sha512.Sum512([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("drcrypto: signing token: %w", err)
	}
	sig := make([]byte, 2*p521ScalarLen)
	r.FillBytes(sig[:p521ScalarLen])
	s.FillBytes(sig[p521ScalarLen:])
	return signingInput + "." + b64url.EncodeToString(sig), nil
}

// jws is a compact JWS split into its parts, header and payload decoded.
type jws struct {
	signingInput string
	header       []byte
	payload      []byte
	sig          []byte
}

// splitJWS decodes the three parts of a compact JWS. Errors wrap
// ErrMalformed and name the part at fault, never its content.
func splitJWS(token string) (jws, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return jws{}, fmt.Errorf("%w: want three dot-separated parts, got %d", ErrMalformed, len(parts))
	}
	var t jws
	var err error
	if t.header, err = b64url.DecodeString(parts[0]); err != nil {
		return jws{}, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	if t.payload, err = b64url.DecodeString(parts[1]); err != nil {
		return jws{}, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	if t.sig, err = b64url.DecodeString(parts[2]); err != nil {
		return jws{}, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	t.signingInput = parts[0] + "." + parts[1]
	return t, nil
}

// checkHeader accepts only ES512 headers. The algorithm is fixed rather than
// taken from the token, so "none" or an HMAC keyed with the public key can
// never be smuggled in (the classic JWT algorithm-confusion attacks).
func checkHeader(raw []byte) error {
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var alg string
	if err := json.Unmarshal(h["alg"], &alg); err != nil || alg != "ES512" {
		return fmt.Errorf("%w: header alg must be ES512", ErrMalformed)
	}
	if typ, ok := h["typ"]; ok {
		var s string
		if err := json.Unmarshal(typ, &s); err != nil || !strings.EqualFold(s, "JWT") {
			return fmt.Errorf("%w: header typ must be JWT", ErrMalformed)
		}
	}
	// RFC 7515 §4.1.11: a critical extension we do not implement must make
	// the token invalid, and we implement none.
	if _, ok := h["crit"]; ok {
		return fmt.Errorf("%w: header has unsupported critical extensions", ErrMalformed)
	}
	return nil
}

// decodeClaims parses a JWT payload. The payload must be a JSON object.
func decodeClaims(raw []byte) (Claims, error) {
	var c Claims
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return Claims{}, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not valid claims JSON", ErrMalformed)
	}
	return c, nil
}

// VerifyJWT verifies an ES512 token under pub and checks its time claims
// against now. The signature is checked before the payload is parsed, so
// nothing from an unauthenticated payload is acted on. A token without exp
// is rejected: an activation token must not be usable forever.
func VerifyJWT(pub *ecdsa.PublicKey, token string, now time.Time) (Claims, error) {
	if pub == nil || pub.Curve != elliptic.P521() {
		return Claims{}, errors.New("drcrypto: ES512 verification requires a P-521 ECDSA public key")
	}
	t, err := splitJWS(token)
	if err != nil {
		return Claims{}, err
	}
	if err := checkHeader(t.header); err != nil {
		return Claims{}, err
	}
	if len(t.sig) != 2*p521ScalarLen {
		return Claims{}, fmt.Errorf("%w: ES512 signature must be %d bytes, got %d", ErrBadSignature, 2*p521ScalarLen, len(t.sig))
	}
	r := new(big.Int).SetBytes(t.sig[:p521ScalarLen])
	s := new(big.Int).SetBytes(t.sig[p521ScalarLen:])
	digest := sha512.Sum512([]byte(t.signingInput))
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return Claims{}, ErrBadSignature
	}
	c, err := decodeClaims(t.payload)
	if err != nil {
		return Claims{}, err
	}
	unix := now.Unix()
	if c.Exp == 0 {
		return Claims{}, fmt.Errorf("%w: token has no exp claim", ErrMalformed)
	}
	// RFC 7519 §4.1.4: the token must not be accepted on or after exp.
	if unix >= c.Exp {
		return Claims{}, fmt.Errorf("%w (at %s)", ErrExpired, time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	}
	if c.Nbf != 0 && unix < c.Nbf {
		return Claims{}, fmt.Errorf("%w (until %s)", ErrNotYetValid, time.Unix(c.Nbf, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// ParseJWTUnverified returns a token's claims without checking its signature
// or times. A secondary uses it to learn the primary's address (addr) and the
// expiry before it has any key to verify with; the primary verifies the token
// when the secondary presents it there, so nothing read here is trusted.
func ParseJWTUnverified(token string) (Claims, error) {
	t, err := splitJWS(token)
	if err != nil {
		return Claims{}, err
	}
	if err := checkHeader(t.header); err != nil {
		return Claims{}, err
	}
	return decodeClaims(t.payload)
}

// LooksLikeJWT reports whether token has the shape of a compact JWS: three
// non-empty base64url parts. It lets callers tell an activation token from
// an encrypted activation bundle (which has no dots) without parsing either.
func LooksLikeJWT(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		if _, err := b64url.DecodeString(p); err != nil {
			return false
		}
	}
	return true
}
