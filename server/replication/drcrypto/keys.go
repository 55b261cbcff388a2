package drcrypto

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types. ECDSA keys are written as SEC 1 "EC PRIVATE KEY" (what
// Vault and OpenSSL emit for EC keys by default); both SEC 1 and PKCS #8 are
// accepted on input so keys produced by other tools load too.
const (
	pemTypeCert     = "CERTIFICATE"
	pemTypeECKey    = "EC PRIVATE KEY"
	pemTypePKCS8Key = "PRIVATE KEY"
)

// marshalECDSAKeyPEM encodes key as a SEC 1 "EC PRIVATE KEY" PEM block.
func marshalECDSAKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	if key == nil {
		return nil, errors.New("drcrypto: nil ECDSA key")
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: encoding ECDSA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypeECKey, Bytes: der}), nil
}

// parseECDSAKeyPEM decodes the first PEM block of data as an ECDSA private
// key in SEC 1 or PKCS #8 form. Parser errors from crypto/x509 describe the
// structure, never the key bytes, so wrapping them is safe.
func parseECDSAKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("drcrypto: private key is not PEM encoded")
	}
	switch block.Type {
	case pemTypeECKey:
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("drcrypto: parsing EC private key: %w", err)
		}
		return key, nil
	case pemTypePKCS8Key:
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("drcrypto: parsing PKCS #8 private key: %w", err)
		}
		key, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("drcrypto: PKCS #8 private key is %T, want an ECDSA key", k)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("drcrypto: PEM block is %q, want %q or %q", block.Type, pemTypeECKey, pemTypePKCS8Key)
	}
}

// NewWrappingKey generates the P-521 ECDSA key a primary signs activation
// tokens with. P-521 because ES512 is defined on it (RFC 7518 §3.4) and it is
// what Vault uses for its wrapping JWTs.
func NewWrappingKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: generating wrapping key: %w", err)
	}
	return key, nil
}

// MarshalKey encodes a wrapping key as a PEM "EC PRIVATE KEY" block for
// storage.
func MarshalKey(key *ecdsa.PrivateKey) ([]byte, error) {
	if key == nil || key.Curve != elliptic.P521() {
		return nil, errors.New("drcrypto: wrapping key must be a P-521 ECDSA key")
	}
	return marshalECDSAKeyPEM(key)
}

// UnmarshalKey decodes a wrapping key written by MarshalKey (or any PEM
// SEC 1 / PKCS #8 P-521 ECDSA key).
func UnmarshalKey(data []byte) (*ecdsa.PrivateKey, error) {
	key, err := parseECDSAKeyPEM(data)
	if err != nil {
		return nil, err
	}
	// A key on another curve would make SignJWT emit tokens whose "ES512"
	// header lies about the algorithm, so refuse it at load time.
	if key.Curve != elliptic.P521() {
		return nil, fmt.Errorf("drcrypto: wrapping key is on %s, want P-521", key.Curve.Params().Name)
	}
	return key, nil
}

// MarshalExchangeKey encodes the private half of a secondary's exchange key
// as a PKCS #8 "PRIVATE KEY" PEM block. crypto/ecdh keys have no SEC 1
// encoding in the standard library, and PKCS #8 is the portable choice.
func MarshalExchangeKey(key *ecdh.PrivateKey) ([]byte, error) {
	if key == nil || key.Curve() != ecdh.P521() {
		return nil, errors.New("drcrypto: exchange key must be a P-521 ECDH key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: encoding exchange key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePKCS8Key, Bytes: der}), nil
}

// UnmarshalExchangeKey decodes a key written by MarshalExchangeKey. A SEC 1
// "EC PRIVATE KEY" on P-521 is accepted as well: it is the same scalar.
func UnmarshalExchangeKey(data []byte) (*ecdh.PrivateKey, error) {
	key, err := parseECDSAKeyPEM(data)
	if err != nil {
		return nil, err
	}
	if key.Curve != elliptic.P521() {
		return nil, fmt.Errorf("drcrypto: exchange key is on %s, want P-521", key.Curve.Params().Name)
	}
	ek, err := key.ECDH()
	if err != nil {
		return nil, fmt.Errorf("drcrypto: converting exchange key: %w", err)
	}
	return ek, nil
}
