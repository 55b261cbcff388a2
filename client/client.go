// Package client is a small Go client for the parts of Vault's HTTP API that
// DR replication touches (API.md §2–§6), built on go-retryablehttp. The
// Terraform provider, the tests and the benchmarks use it; it speaks only the
// documented API, so it works against vaultrepl-server and Vault Enterprise.
//
// Retries follow one rule: idempotent reads (status, health, seal status,
// the operation-token generation status) are retried on connection errors,
// 412, 429 and 5xx except 501; every call that changes replication state
// (enable, demote, disable, promote, update-primary, secondary-token,
// revoke-secondary, the operation-token attempt and update) is sent exactly
// once, because repeating it blindly can mint a second token, consume an
// activation token twice or promote twice. Callers decide what to do with a
// failure; a 503 from promote comes back as a *ResponseError that
// IsPromotionBehind recognises.
//
// Secrets (tokens, operation tokens, key shares) are never logged and never
// appear in an error message.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	cleanhttp "github.com/hashicorp/go-cleanhttp"
	retryablehttp "github.com/hashicorp/go-retryablehttp"
	rootcerts "github.com/hashicorp/go-rootcerts"
)

// Defaults used when Config leaves a field at its zero value.
const (
	DefaultTimeout      = 60 * time.Second
	DefaultRetryWaitMin = 500 * time.Millisecond
	DefaultRetryWaitMax = 3 * time.Second
)

// Logger receives the client's own log lines and those of go-retryablehttp.
// It has the shape of retryablehttp.LeveledLogger. Nothing secret is ever
// passed to it: URLs carry no tokens and bodies are never logged.
type Logger = retryablehttp.LeveledLogger

// Config configures a Client. Only Address is required.
type Config struct {
	// Address is the base URL of the cluster's API, e.g. "https://vault:8200".
	Address string
	// Token is sent as X-Vault-Token; may be empty for unauthenticated calls.
	Token string
	// CACertFile and CACertDir name PEM CA certificates to trust instead of
	// the system roots.
	CACertFile string
	CACertDir  string
	// SkipVerify disables TLS certificate verification (tests only).
	SkipVerify bool
	// TLSServerName overrides the name used for SNI and verification.
	TLSServerName string
	// MaxRetries is how often an idempotent read is retried (0: never).
	MaxRetries int
	// Timeout bounds one HTTP attempt; DefaultTimeout when zero.
	Timeout time.Duration
	// RetryWaitMin and RetryWaitMax bound the backoff between retries.
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration
	// UserAgent is sent as User-Agent when set.
	UserAgent string
	// Logger receives debug lines; nil discards them.
	Logger Logger
}

// Client talks to one cluster. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	http *retryablehttp.Client
}

// New builds a client. It makes no network call.
func New(cfg Config) (*Client, error) {
	addr := strings.TrimRight(strings.TrimSpace(cfg.Address), "/")
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: address %q is not an http(s) URL with a host", cfg.Address)
	}
	cfg.Address = addr
	if cfg.MaxRetries < 0 {
		return nil, fmt.Errorf("client: MaxRetries must be 0 or greater, got %d", cfg.MaxRetries)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryWaitMin == 0 {
		cfg.RetryWaitMin = DefaultRetryWaitMin
	}
	if cfg.RetryWaitMax == 0 {
		cfg.RetryWaitMax = DefaultRetryWaitMax
	}

	transport := cleanhttp.DefaultPooledTransport()
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.SkipVerify {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // explicitly requested (tests only)
	}
	if cfg.CACertFile != "" || cfg.CACertDir != "" {
		if err := rootcerts.ConfigureTLS(tlsCfg, &rootcerts.Config{CAFile: cfg.CACertFile, CAPath: cfg.CACertDir}); err != nil {
			return nil, fmt.Errorf("client: load CA certificates (ca_cert_file %q, ca_cert_dir %q): %w", cfg.CACertFile, cfg.CACertDir, err)
		}
	}
	transport.TLSClientConfig = tlsCfg

	rc := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: transport,
			Timeout:   cfg.Timeout,
			// Vault does not redirect API calls; following one could send the
			// token somewhere unexpected.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		RetryWaitMin: cfg.RetryWaitMin,
		RetryWaitMax: cfg.RetryWaitMax,
		RetryMax:     cfg.MaxRetries,
		CheckRetry:   checkRetry,
		Backoff:      retryablehttp.DefaultBackoff,
		// Hand the last response back so its errors can be decoded.
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) {
			if resp != nil {
				return resp, nil
			}
			return nil, err
		},
	}
	if cfg.Logger != nil {
		rc.Logger = cfg.Logger
	}
	return &Client{cfg: cfg, base: u, http: rc}, nil
}

// Address is the cluster's API address the client talks to.
func (c *Client) Address() string { return c.cfg.Address }

// WithAddress returns a client for another cluster with the same TLS
// settings, retries and logger but no token: it is meant for the
// unauthenticated status endpoints of a peer.
func (c *Client) WithAddress(addr string) (*Client, error) {
	cfg := c.cfg
	cfg.Address = addr
	cfg.Token = ""
	cfg.TLSServerName = ""
	return New(cfg)
}

// retryClass says how one request may be retried.
type retryClass int

const (
	// retryNever: state-changing calls; exactly one attempt.
	retryNever retryClass = iota
	// retryIdempotent: reads; connection errors, 412, 429, 5xx except 501.
	retryIdempotent
	// retryHealth: like retryIdempotent, but 429 (standby), 503 (sealed)
	// and 501 (uninitialised) are answers, not failures.
	retryHealth
)

type retryClassKey struct{}

func withRetryClass(ctx context.Context, rc retryClass) context.Context {
	return context.WithValue(ctx, retryClassKey{}, rc)
}

// checkRetry is the single retry policy (see the package comment).
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	rc, _ := ctx.Value(retryClassKey{}).(retryClass)
	if rc == retryNever {
		return false, nil
	}
	if err != nil {
		// Connection errors are worth another try, TLS trust errors are not.
		retry, _ := retryablehttp.DefaultRetryPolicy(ctx, nil, err)
		return retry, nil
	}
	switch code := resp.StatusCode; {
	case rc == retryHealth && (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable):
		// sys/health uses 429 for a standby and 503 for a sealed cluster.
		return false, nil
	case code == http.StatusPreconditionFailed, code == http.StatusTooManyRequests:
		return true, nil
	case code == http.StatusNotImplemented:
		return false, nil
	case code >= 500:
		return true, nil
	}
	return false, nil
}

// request describes one API call.
type request struct {
	method string
	path   string // logical path without /v1/
	query  url.Values
	body   any
	retry  retryClass
	// secrets are values that must never reach an error message, even if a
	// server echoes them.
	secrets []string
	// noToken leaves X-Vault-Token out (status endpoints, DR op token calls).
	noToken bool
	// token, when set, is sent instead of the client's own: a call a
	// generated token makes about itself (revoke-self).
	token string
	// okCodes are non-2xx codes whose body is an answer, not an error
	// (sys/health).
	okCodes func(int) bool
}

// response is an answer the caller may decode.
type response struct {
	StatusCode int
	Body       []byte
}

// do sends one request (with retries as its class allows) and returns the
// body of a successful answer, or a *ResponseError / *ConnectionError.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + "/v1/" + r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s request: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := retryablehttp.NewRequestWithContext(withRetryClass(ctx, r.retry), r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build %s %s request: %w", r.method, r.path, err)
	}
	req.Header.Set("X-Vault-Request", "true")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case r.token != "":
		req.Header.Set("X-Vault-Token", r.token)
	case c.cfg.Token != "" && !r.noToken:
		req.Header.Set("X-Vault-Token", c.cfg.Token)
	}
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	if c.cfg.Logger != nil {
		c.cfg.Logger.Debug("vaultrepl API call", "method", r.method, "path", r.path)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, r.path, ctxErr)
		}
		return nil, &ConnectionError{Address: c.cfg.Address, Method: r.method, Path: r.path, Err: redactErr(err, append(r.secrets, c.cfg.Token))}
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, &ConnectionError{Address: c.cfg.Address, Method: r.method, Path: r.path, Err: redactErr(err, append(r.secrets, c.cfg.Token))}
	}
	if resp.StatusCode/100 == 2 || (r.okCodes != nil && r.okCodes(resp.StatusCode)) {
		return &response{StatusCode: resp.StatusCode, Body: raw}, nil
	}
	return nil, newResponseError(r.method, r.path, resp.StatusCode, raw, append(r.secrets, c.cfg.Token))
}

// envelope is Vault's response envelope (API.md §1).
type envelope struct {
	RequestID string          `json:"request_id"`
	Data      json.RawMessage `json:"data"`
	WrapInfo  *struct {
		Token        string `json:"token"`
		Accessor     string `json:"accessor"`
		TTL          int64  `json:"ttl"`
		CreationTime string `json:"creation_time"`
		CreationPath string `json:"creation_path"`
	} `json:"wrap_info"`
	Warnings []string `json:"warnings"`
}

// logical sends r and decodes the envelope (an empty 204 gives an empty one).
func (c *Client) logical(ctx context.Context, r request) (*envelope, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	env := &envelope{}
	if len(bytes.TrimSpace(resp.Body)) == 0 {
		return env, nil
	}
	if err := json.Unmarshal(resp.Body, env); err != nil {
		return nil, fmt.Errorf("%s %s: decode response: %w", r.method, r.path, err)
	}
	return env, nil
}

// rawJSON sends r and decodes a bare JSON answer into out.
func (c *Client) rawJSON(ctx context.Context, r request, out any) (int, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return 0, err
	}
	if out != nil && len(bytes.TrimSpace(resp.Body)) > 0 {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode response: %w", r.method, r.path, err)
		}
	}
	return resp.StatusCode, nil
}

// redactErr keeps secrets out of an error's text.
func redactErr(err error, secrets []string) error {
	msg := err.Error()
	red := redact(msg, secrets)
	if red == msg {
		return err
	}
	return errors.New(red)
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
