package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Secret is a decoded logical answer: its data and warnings.
type Secret struct {
	Data     map[string]any
	Auth     map[string]any
	Warnings []string
}

// Write sends PUT path with data (a KV secret, a token creation, …) once,
// without retries. Tests and benchmarks use it for data the DR set protects.
func (c *Client) Write(ctx context.Context, path string, data map[string]any) (*Secret, error) {
	if data == nil {
		data = map[string]any{}
	}
	return c.secret(ctx, request{method: http.MethodPut, path: strings.TrimPrefix(path, "/"), body: data, retry: retryNever})
}

// Read sends GET path; a missing key answers (nil, nil).
func (c *Client) Read(ctx context.Context, path string) (*Secret, error) {
	s, err := c.secret(ctx, request{method: http.MethodGet, path: strings.TrimPrefix(path, "/"), retry: retryIdempotent})
	if StatusCode(err) == http.StatusNotFound {
		return nil, nil
	}
	return s, err
}

func (c *Client) secret(ctx context.Context, r request) (*Secret, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	s := &Secret{}
	if len(resp.Body) == 0 {
		return s, nil
	}
	var env struct {
		Data     map[string]any `json:"data"`
		Auth     map[string]any `json:"auth"`
		Warnings []string       `json:"warnings"`
	}
	if err := json.Unmarshal(resp.Body, &env); err != nil {
		return nil, fmt.Errorf("%s %s: decode response: %w", r.method, r.path, err)
	}
	s.Data, s.Auth, s.Warnings = env.Data, env.Auth, env.Warnings
	return s, nil
}

// Unseal provides one unseal key share (PUT sys/unseal) and returns the
// seal status that follows.
func (c *Client) Unseal(ctx context.Context, key string) (*SealStatus, error) {
	st := &SealStatus{}
	_, err := c.rawJSON(ctx, request{method: http.MethodPut, path: "sys/unseal", body: map[string]any{"key": key}, retry: retryNever, noToken: true, secrets: []string{key}}, st)
	return st, err
}

// Seal seals the cluster (PUT sys/seal, needs a sudo token).
func (c *Client) Seal(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: "sys/seal", body: map[string]any{}, retry: retryNever})
	return err
}
