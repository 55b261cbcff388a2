package drcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Bundle is everything a secondary needs to join a DR replication set. It is
// sealed to the secondary's exchange key, so it can travel through any
// channel (an operator's clipboard, Terraform state) and the secondary never
// needs to reach the primary's API to activate.
type Bundle struct {
	ClusterID          string `json:"cluster_id"`
	SecondaryID        string `json:"id"`
	PrimaryClusterAddr string `json:"primary_cluster_addr"`
	PrimaryAPIAddr     string `json:"primary_api_addr"`
	CACert             string `json:"ca_cert"`
	ClientCert         string `json:"client_cert"`
	ClientKey          string `json:"client_key"`
	Epoch              uint64 `json:"epoch,omitempty"`
	ExpiresAt          int64  `json:"expires_at"`
	// RootKey is the DR set's root key: the secondary opens the replicated
	// keyring with it and so stays unsealed after activation.
	RootKey []byte `json:"root_key,omitempty"`
}

// Sealed envelope, version 1, before base64url:
//
//	version(1) = 0x01 || epk(133, uncompressed P-521) || salt(32) || nonce(12) || AES-256-GCM ciphertext+tag
//
// A fixed binary layout keeps tokens short (they are pasted by hand) and
// leaves no optional fields to misparse. The version byte lets a future
// format be told apart rather than failing authentication obscurely.
const (
	bundleVersion  = 1
	bundleInfo     = "vaultrepl dr activation v1"
	p521PointLen   = 1 + 2*p521ScalarLen // 0x04 || X || Y
	saltLen        = 32
	gcmNonceLen    = 12
	gcmTagLen      = 16
	aes256KeyLen   = 32
	bundleHdrLen   = 1 + p521PointLen + saltLen + gcmNonceLen
	minSealedBytes = bundleHdrLen + gcmTagLen
)

// NewExchangeKey generates a secondary's P-521 ECDH exchange key. The
// secondary keeps the private half and publishes PublicKeyString.
func NewExchangeKey() (*ecdh.PrivateKey, error) {
	key, err := ecdh.P521().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: generating exchange key: %w", err)
	}
	return key, nil
}

// PublicKeyString is the standard base64 of the key's uncompressed public
// point, the form operators hand to the primary.
func PublicKeyString(key *ecdh.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(key.PublicKey().Bytes())
}

// ParsePublicKey parses a PublicKeyString. Surrounding whitespace is ignored
// because the value is usually pasted. The errors say what is expected, since
// the person reading them is an operator who pasted the wrong thing.
func ParsePublicKey(s string) (*ecdh.PublicKey, error) {
	const want = "a secondary's exchange public key must be standard base64 of an uncompressed P-521 point (133 bytes, starting with 0x04)"
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("drcrypto: exchange public key is empty; %s", want)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: exchange public key is not valid base64; %s", want)
	}
	if len(raw) != p521PointLen || raw[0] != 0x04 {
		return nil, fmt.Errorf("drcrypto: exchange public key decodes to %d bytes, not an uncompressed P-521 point; %s", len(raw), want)
	}
	pub, err := ecdh.P521().NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: exchange public key is not a point on P-521; %s", want)
	}
	return pub, nil
}

// bundleKey derives the AES-256 key from the ECDH shared secret. HKDF turns
// the (non-uniform) x-coordinate into a uniform key; the random salt makes
// every seal's key distinct even if an ephemeral key were ever reused, and
// the info string binds the key to this purpose and format version.
func bundleKey(secret, salt []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, salt, bundleInfo, aes256KeyLen)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: deriving bundle key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: bundle cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// SealBundle encrypts b to pub (ECIES: ephemeral ECDH, HKDF-SHA256,
// AES-256-GCM) and returns it as an unpadded base64url string. The header
// (version, ephemeral key, salt, nonce) is passed as GCM additional data, so
// any change to it fails authentication rather than decrypting differently.
func SealBundle(pub *ecdh.PublicKey, b Bundle) (string, error) {
	if pub == nil || pub.Curve() != ecdh.P521() {
		return "", errors.New("drcrypto: activation bundles are sealed to a P-521 exchange public key")
	}
	plaintext, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("drcrypto: encoding bundle: %w", err)
	}
	eph, err := ecdh.P521().GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("drcrypto: generating ephemeral key: %w", err)
	}
	secret, err := eph.ECDH(pub)
	if err != nil {
		return "", fmt.Errorf("drcrypto: key agreement: %w", err)
	}
	hdr := make([]byte, 0, bundleHdrLen+len(plaintext)+gcmTagLen)
	hdr = append(hdr, bundleVersion)
	hdr = append(hdr, eph.PublicKey().Bytes()...)
	salt := make([]byte, saltLen)
	nonce := make([]byte, gcmNonceLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("drcrypto: generating salt: %w", err)
	}
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("drcrypto: generating nonce: %w", err)
	}
	hdr = append(hdr, salt...)
	hdr = append(hdr, nonce...)
	aead, err := bundleKey(secret, salt)
	if err != nil {
		return "", err
	}
	out := aead.Seal(hdr, nonce, plaintext, hdr)
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// OpenBundle decrypts a SealBundle token with the secondary's exchange key.
// A token that is not a sealed bundle at all yields ErrMalformed; one that is
// well formed but does not authenticate yields ErrWrongKey, which in practice
// means it was sealed to another secondary's key (tampering looks the same,
// and GCM deliberately cannot tell the two apart). ExpiresAt is not checked
// here: expiry is policy, left to the caller.
func OpenBundle(priv *ecdh.PrivateKey, token string) (Bundle, error) {
	if priv == nil || priv.Curve() != ecdh.P521() {
		return Bundle{}, errors.New("drcrypto: activation bundles are opened with a P-521 exchange key")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: activation bundle is not unpadded base64url", ErrMalformed)
	}
	if len(raw) < minSealedBytes {
		return Bundle{}, fmt.Errorf("%w: activation bundle is too short (%d bytes)", ErrMalformed, len(raw))
	}
	if raw[0] != bundleVersion {
		return Bundle{}, fmt.Errorf("%w: unsupported activation bundle version %d", ErrMalformed, raw[0])
	}
	hdr := raw[:bundleHdrLen]
	epkBytes := hdr[1 : 1+p521PointLen]
	salt := hdr[1+p521PointLen : 1+p521PointLen+saltLen]
	nonce := hdr[1+p521PointLen+saltLen:]
	epk, err := ecdh.P521().NewPublicKey(epkBytes)
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: activation bundle's ephemeral key is not a P-521 point", ErrMalformed)
	}
	secret, err := priv.ECDH(epk)
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: key agreement failed", ErrMalformed)
	}
	aead, err := bundleKey(secret, salt)
	if err != nil {
		return Bundle{}, err
	}
	plaintext, err := aead.Open(nil, nonce, raw[bundleHdrLen:], hdr)
	if err != nil {
		return Bundle{}, ErrWrongKey
	}
	var b Bundle
	if err := json.Unmarshal(plaintext, &b); err != nil {
		// Authenticated but not a bundle: sealed by something that is not
		// SealBundle. Report the shape, never the decrypted content.
		return Bundle{}, fmt.Errorf("%w: decrypted activation bundle is not valid JSON", ErrMalformed)
	}
	return b, nil
}
