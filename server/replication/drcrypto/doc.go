// Package drcrypto holds the pure cryptography of vaultrepl's DR
// replication: the per-cluster certificate authority that authenticates
// primaries and secondaries on the cluster port, the ES512 compact JWS used
// as an activation (wrapping) token, and the activation bundle that a primary
// encrypts to a secondary's exchange public key so a secondary can be
// activated without ever calling the primary's API.
//
// Nothing here touches storage or HTTP; callers persist the PEM/JSON outputs
// and decide policy (expiry of bundles, revocation of secondaries).
//
// Error messages never include key material, tokens or ciphertext: they end
// up in API responses and logs, and a token in a log is a usable credential.
package drcrypto

import "errors"

// Sentinel errors. Callers map them to API responses with errors.Is; the
// messages are deliberately generic so nothing secret leaks through them.
var (
	// ErrExpired: the token's exp is at or before the verification time.
	ErrExpired = errors.New("drcrypto: token has expired")
	// ErrNotYetValid: the token's nbf is after the verification time.
	ErrNotYetValid = errors.New("drcrypto: token is not valid yet")
	// ErrMalformed: the input is not a token of the expected shape.
	ErrMalformed = errors.New("drcrypto: malformed token")
	// ErrBadSignature: the token's signature does not verify under the key.
	ErrBadSignature = errors.New("drcrypto: token signature is invalid")
	// ErrWrongKey: AES-GCM authentication failed while opening a bundle.
	ErrWrongKey = errors.New("drcrypto: activation bundle was encrypted to a different key (or has been altered)")
)
