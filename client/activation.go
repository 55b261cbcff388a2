package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ActivationClaims are the readable claims of a wrapped activation token
// (API.md §6): a compact JWS whose payload anyone can decode. Reading them
// does not consume the token.
type ActivationClaims struct {
	// Addr is the primary's API address, where the token is unwrapped.
	Addr string
	// Expires is the exp claim (zero when absent).
	Expires time.Time
}

// ErrNotWrappedToken is returned by ParseActivationToken for a token that
// is not a JWS, e.g. one encrypted to a secondary's public key.
var ErrNotWrappedToken = errors.New("the activation token is not a response-wrapping JWT (it may be encrypted to a secondary public key)")

// ParseActivationToken reads the claims of a wrapped activation token
// without verifying its signature (only the primary can) and without
// consuming it.
func ParseActivationToken(token string) (*ActivationClaims, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return nil, ErrNotWrappedToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, ErrNotWrappedToken
	}
	var claims struct {
		Addr string `json:"addr"`
		Exp  int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, ErrNotWrappedToken
	}
	out := &ActivationClaims{Addr: claims.Addr}
	if claims.Exp > 0 {
		out.Expires = time.Unix(claims.Exp, 0)
	}
	return out, nil
}
