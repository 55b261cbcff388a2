// Package barrier encrypts everything the domain packages store, as Vault's
// barrier does: a keyring of AES-256-GCM keys with terms, itself stored
// encrypted under the root key that the unseal key shares reconstruct.
// Storage, the WAL and the merkle index see only ciphertext, so replication
// ships ciphertext and a secondary never decrypts to apply.
package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Ciphertext layout, Vault's: version(1) || term(4, big-endian) ||
// nonce(12) || AES-256-GCM sealed data and tag. The term names the keyring
// key that sealed it, so every term in the keyring can still decrypt.
const (
	version   = 0x01
	termLen   = 4
	nonceLen  = 12
	tagLen    = 16
	headerLen = 1 + termLen + nonceLen
	// Overhead is what encryption adds to a value.
	Overhead = headerLen + tagLen
	keyLen   = 32 // AES-256
)

// ErrDecrypt is returned for a value that does not authenticate: tampered,
// copied from another key or keyspace, or sealed with a key not held.
var ErrDecrypt = errors.New("barrier: value does not decrypt (tampered, moved to another key, or sealed under another keyring)")

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keyLen {
		return nil, fmt.Errorf("barrier: key is %d bytes, want %d", len(key), keyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain under aead, stamping term, binding aad.
func seal(aead cipher.AEAD, term uint32, random io.Reader, plain, aad []byte) ([]byte, error) {
	out := make([]byte, headerLen, headerLen+len(plain)+tagLen)
	out[0] = version
	binary.BigEndian.PutUint32(out[1:], term)
	if _, err := io.ReadFull(random, out[1+termLen:headerLen]); err != nil {
		return nil, fmt.Errorf("barrier: read nonce: %w", err)
	}
	return aead.Seal(out, out[1+termLen:headerLen], plain, aad), nil
}

// termOf reads the term of a ciphertext; false when it is not one.
func termOf(ct []byte) (uint32, bool) {
	if len(ct) < Overhead || ct[0] != version {
		return 0, false
	}
	return binary.BigEndian.Uint32(ct[1:]), true
}

func open(aead cipher.AEAD, ct, aad []byte) ([]byte, error) {
	plain, err := aead.Open(nil, ct[1+termLen:headerLen], ct[headerLen:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}
