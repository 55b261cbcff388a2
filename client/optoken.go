package client

import (
	"context"
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

// generation is one of the two share-driven token generations, which
// Vault runs with the same calls under two paths: a DR operation token
// (sys/replication/dr/secondary/generate-operation-token/) and a root
// token (sys/generate-root/).
type generation struct {
	attempt, update string
	what            string // for error messages
}

var (
	drOperationTokenGeneration = generation{
		attempt: opTokenAttemptPath,
		update:  "sys/replication/dr/secondary/generate-operation-token/update",
		what:    "generate DR operation token",
	}
	rootTokenGeneration = generation{
		attempt: "sys/generate-root/attempt",
		update:  "sys/generate-root/update",
		what:    "generate root token",
	}
)

// OperationTokenStatus reads the running generation, if any.
func (c *Client) OperationTokenStatus(ctx context.Context) (*GenerationStatus, error) {
	return c.generationStatus(ctx, drOperationTokenGeneration)
}

func (c *Client) generationStatus(ctx context.Context, g generation) (*GenerationStatus, error) {
	st := &GenerationStatus{}
	_, err := c.rawJSON(ctx, request{method: http.MethodGet, path: g.attempt, retry: retryIdempotent, noToken: true}, st)
	return st, err
}

// OperationTokenAttempt starts a generation. With neither otp nor pgpKey
// the server generates an OTP and returns it once in the answer.
func (c *Client) OperationTokenAttempt(ctx context.Context, otp, pgpKey string) (*GenerationStatus, error) {
	return c.generationAttempt(ctx, drOperationTokenGeneration, otp, pgpKey)
}

func (c *Client) generationAttempt(ctx context.Context, g generation, otp, pgpKey string) (*GenerationStatus, error) {
	body := map[string]any{}
	if otp != "" {
		body["otp"] = otp
	}
	if pgpKey != "" {
		body["pgp_key"] = pgpKey
	}
	st := &GenerationStatus{}
	_, err := c.rawJSON(ctx, request{method: http.MethodPut, path: g.attempt, body: body, retry: retryNever, noToken: true, secrets: []string{otp}}, st)
	return st, err
}

// OperationTokenUpdate provides one key share of the primary's seal.
func (c *Client) OperationTokenUpdate(ctx context.Context, key, nonce string) (*GenerationStatus, error) {
	return c.generationUpdate(ctx, drOperationTokenGeneration, key, nonce)
}

func (c *Client) generationUpdate(ctx context.Context, g generation, key, nonce string) (*GenerationStatus, error) {
	st := &GenerationStatus{}
	_, err := c.rawJSON(ctx, request{
		method: http.MethodPut, path: g.update,
		body: map[string]any{"key": key, "nonce": nonce}, retry: retryNever, noToken: true, secrets: []string{key},
	}, st)
	return st, err
}

// OperationTokenCancel cancels a running generation (idempotent).
func (c *Client) OperationTokenCancel(ctx context.Context) error {
	return c.generationCancel(ctx, drOperationTokenGeneration)
}

func (c *Client) generationCancel(ctx context.Context, g generation) error {
	_, err := c.rawJSON(ctx, request{method: http.MethodDelete, path: g.attempt, retry: retryIdempotent, noToken: true}, nil)
	return err
}

// GenerateDROperationToken runs the whole generation on a secondary with
// the primary's unseal key shares: attempt (server-generated OTP) → one
// update per share until complete → decode with the OTP. Shares beyond the
// threshold are not sent. On any failure the attempt is cancelled, so no
// half-finished generation is left behind. It refuses to touch a generation
// someone else started (ErrGenerationInProgress).
func (c *Client) GenerateDROperationToken(ctx context.Context, shares []string) (string, error) {
	return c.generate(ctx, drOperationTokenGeneration, shares)
}

// GenerateRootToken is GenerateDROperationToken for a root token
// (sys/generate-root/), as `vault operator generate-root` makes one: the
// way to a first token on a performance secondary, whose tokens enabling
// wiped, with its primary's key shares.
func (c *Client) GenerateRootToken(ctx context.Context, shares []string) (string, error) {
	return c.generate(ctx, rootTokenGeneration, shares)
}

func (c *Client) generate(ctx context.Context, g generation, shares []string) (string, error) {
	if len(shares) == 0 {
		return "", fmt.Errorf("%s: no key shares given", g.what)
	}
	st, err := c.generationStatus(ctx, g)
	if err != nil {
		return "", fmt.Errorf("%s: read status: %w", g.what, err)
	}
	if st.Started {
		return "", fmt.Errorf("%s: %w (progress %d of %d)", g.what, ErrGenerationInProgress, st.Progress, st.Required)
	}
	st, err = c.generationAttempt(ctx, g, "", "")
	if err != nil {
		return "", fmt.Errorf("%s: start attempt: %w", g.what, err)
	}
	cancel := func() {
		// The caller's context may be the one that ended.
		cctx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer done()
		_ = c.generationCancel(cctx, g)
	}
	otp := st.OTP
	if otp == "" {
		cancel()
		return "", fmt.Errorf("%s: the server did not return a one-time password for an attempt started without otp or pgp_key (servers older than Vault 1.10 need an OTP from the client)", g.what)
	}
	nonce := st.Nonce
	for i, share := range shares {
		st, err = c.generationUpdate(ctx, g, share, nonce)
		if err != nil {
			cancel()
			return "", fmt.Errorf("%s: key share %d of %d: %w", g.what, i+1, len(shares), err)
		}
		if st.Complete {
			break
		}
	}
	if !st.Complete || st.EncodedToken == "" {
		cancel()
		return "", fmt.Errorf("%s: %d key share(s) given, %d accepted, %d required", g.what, len(shares), st.Progress, st.Required)
	}
	token, err := roottoken.DecodeToken(st.EncodedToken, otp, len(otp))
	if err != nil {
		return "", fmt.Errorf("%s: decode the encoded token with the OTP: %w", g.what, err)
	}
	return token, nil
}
