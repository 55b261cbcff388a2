package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/helper/roottoken"
)

const opTokenAttemptPath = "sys/replication/dr/secondary/generate-operation-token/attempt"

// GenerationStatus is the status object of DR operation token generation
// (API.md §5), the same for GET, PUT and update.
type GenerationStatus struct {
	Started        bool   `json:"started"`
	Nonce          string `json:"nonce"`
	Progress       int    `json:"progress"`
	Required       int    `json:"required"`
	Complete       bool   `json:"complete"`
	EncodedToken   string `json:"encoded_token"`
	PGPFingerprint string `json:"pgp_fingerprint"`
	// OTP is returned once, by an attempt started without otp or pgp_key.
	OTP       string `json:"otp"`
	OTPLength int    `json:"otp_length"`
}

// OperationTokenStatus reads the running generation, if any.
func (c *Client) OperationTokenStatus(ctx context.Context) (*GenerationStatus, error) {
	st := &GenerationStatus{}
	_, err := c.rawJSON(ctx, request{method: http.MethodGet, path: opTokenAttemptPath, retry: retryIdempotent, noToken: true}, st)
	return st, err
}

// OperationTokenAttempt starts a generation. With neither otp nor pgpKey
// the server generates an OTP and returns it once in the answer.
func (c *Client) OperationTokenAttempt(ctx context.Context, otp, pgpKey string) (*GenerationStatus, error) {
	body := map[string]any{}
	if otp != "" {
		body["otp"] = otp
	}
	if pgpKey != "" {
		body["pgp_key"] = pgpKey
	}
	st := &GenerationStatus{}
	_, err := c.rawJSON(ctx, request{method: http.MethodPut, path: opTokenAttemptPath, body: body, retry: retryNever, noToken: true, secrets: []string{otp}}, st)
	return st, err
}

// OperationTokenUpdate provides one key share of the primary's seal.
func (c *Client) OperationTokenUpdate(ctx context.Context, key, nonce string) (*GenerationStatus, error) {
	st := &GenerationStatus{}
	_, err := c.rawJSON(ctx, request{
		method: http.MethodPut, path: "sys/replication/dr/secondary/generate-operation-token/update",
		body: map[string]any{"key": key, "nonce": nonce}, retry: retryNever, noToken: true, secrets: []string{key},
	}, st)
	return st, err
}

// OperationTokenCancel cancels a running generation (idempotent).
func (c *Client) OperationTokenCancel(ctx context.Context) error {
	_, err := c.rawJSON(ctx, request{method: http.MethodDelete, path: opTokenAttemptPath, retry: retryIdempotent, noToken: true}, nil)
	return err
}

// GenerateDROperationToken runs the whole generation on a secondary with
// the primary's unseal key shares: attempt (server-generated OTP) → one
// update per share until complete → decode with the OTP. Shares beyond the
// threshold are not sent. On any failure the attempt is cancelled, so no
// half-finished generation is left behind. It refuses to touch a generation
// someone else started (ErrGenerationInProgress).
func (c *Client) GenerateDROperationToken(ctx context.Context, shares []string) (string, error) {
	if len(shares) == 0 {
		return "", errors.New("generate DR operation token: no key shares given")
	}
	st, err := c.OperationTokenStatus(ctx)
	if err != nil {
		return "", fmt.Errorf("generate DR operation token: read status: %w", err)
	}
	if st.Started {
		return "", fmt.Errorf("generate DR operation token: %w (progress %d of %d)", ErrGenerationInProgress, st.Progress, st.Required)
	}
	st, err = c.OperationTokenAttempt(ctx, "", "")
	if err != nil {
		return "", fmt.Errorf("generate DR operation token: start attempt: %w", err)
	}
	cancel := func() {
		// The caller's context may be the one that ended.
		cctx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer done()
		_ = c.OperationTokenCancel(cctx)
	}
	otp := st.OTP
	if otp == "" {
		cancel()
		return "", errors.New("generate DR operation token: the server did not return a one-time password for an attempt started without otp or pgp_key (servers older than Vault 1.10 need an OTP from the client)")
	}
	nonce := st.Nonce
	for i, share := range shares {
		st, err = c.OperationTokenUpdate(ctx, share, nonce)
		if err != nil {
			cancel()
			return "", fmt.Errorf("generate DR operation token: key share %d of %d: %w", i+1, len(shares), err)
		}
		if st.Complete {
			break
		}
	}
	if !st.Complete || st.EncodedToken == "" {
		cancel()
		return "", fmt.Errorf("generate DR operation token: %d key share(s) given, %d accepted, %d required", len(shares), st.Progress, st.Required)
	}
	token, err := roottoken.DecodeToken(st.EncodedToken, otp, len(otp))
	if err != nil {
		return "", fmt.Errorf("generate DR operation token: decode the encoded token with the OTP: %w", err)
	}
	return token, nil
}
