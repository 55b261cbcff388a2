package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRetryPolicy checks the one retry rule: reads are retried on
// connection errors, 412, 429 and 5xx except 501; state changes never.
func TestRetryPolicy(t *testing.T) {
	type call struct {
		name string
		do   func(ctx context.Context, c *Client) error
	}
	reads := []call{
		{"DRStatus", func(ctx context.Context, c *Client) error { _, err := c.DRStatus(ctx); return err }},
		{"ReplicationStatus", func(ctx context.Context, c *Client) error { _, err := c.ReplicationStatus(ctx); return err }},
		{"SealStatus", func(ctx context.Context, c *Client) error { _, err := c.SealStatus(ctx); return err }},
		{"OperationTokenStatus", func(ctx context.Context, c *Client) error { _, err := c.OperationTokenStatus(ctx); return err }},
	}
	changes := []call{
		{"EnablePrimary", func(ctx context.Context, c *Client) error { _, err := c.EnablePrimary(ctx, ""); return err }},
		{"DemotePrimary", func(ctx context.Context, c *Client) error { _, err := c.DemotePrimary(ctx); return err }},
		{"DisablePrimary", func(ctx context.Context, c *Client) error { _, err := c.DisablePrimary(ctx); return err }},
		{"SecondaryToken", func(ctx context.Context, c *Client) error {
			_, _, err := c.SecondaryToken(ctx, "b", "", "")
			return err
		}},
		{"RevokeSecondary", func(ctx context.Context, c *Client) error { _, err := c.RevokeSecondary(ctx, "b"); return err }},
		{"EnableSecondary", func(ctx context.Context, c *Client) error {
			_, err := c.EnableSecondary(ctx, Activation{Token: "a.b.c"})
			return err
		}},
		{"UpdatePrimary", func(ctx context.Context, c *Client) error {
			_, err := c.UpdatePrimary(ctx, "op", Activation{Token: "a.b.c"})
			return err
		}},
		{"Promote", func(ctx context.Context, c *Client) error { _, err := c.Promote(ctx, "op", "", false); return err }},
		{"DisableSecondary", func(ctx context.Context, c *Client) error { _, err := c.DisableSecondary(ctx, ""); return err }},
		{"OperationTokenAttempt", func(ctx context.Context, c *Client) error { _, err := c.OperationTokenAttempt(ctx, "", ""); return err }},
		{"OperationTokenUpdate", func(ctx context.Context, c *Client) error {
			_, err := c.OperationTokenUpdate(ctx, "k", "n")
			return err
		}},
	}
	const maxRetries = 2
	for _, code := range []int{412, 429, 500, 501, 502, 503, 400, 403} {
		wantRead := 1
		if code == 412 || code == 429 || (code >= 500 && code != 501) {
			wantRead = 1 + maxRetries
		}
		for _, tc := range append(append([]call{}, reads...), changes...) {
			isRead := false
			for _, r := range reads {
				if r.name == tc.name {
					isRead = true
				}
			}
			want := 1
			if isRead {
				want = wantRead
			}
			t.Run(fmt.Sprintf("%s/%d", tc.name, code), func(t *testing.T) {
				var hits atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					hits.Add(1)
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(code)
					_, _ = w.Write([]byte(`{"errors":["status ` + fmt.Sprint(code) + `"]}`))
				}))
				defer srv.Close()
				c := mustNew(t, Config{Address: srv.URL, MaxRetries: maxRetries, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
				err := tc.do(context.Background(), c)
				var re *ResponseError
				if !errors.As(err, &re) || re.StatusCode != code {
					t.Fatalf("error = %v, want a *ResponseError with %d", err, code)
				}
				if got := int(hits.Load()); got != want {
					t.Fatalf("%d attempts, want %d", got, want)
				}
			})
		}
	}

	t.Run("connection errors", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int32
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				_ = conn.Close() // hang up without answering
			}
		}()
		defer func() { _ = ln.Close() }()
		c := mustNew(t, Config{Address: "http://" + ln.Addr().String(), MaxRetries: maxRetries, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})

		_, err = c.DRStatus(context.Background())
		if !IsConnectionError(err) {
			t.Fatalf("DRStatus error = %v, want a connection error", err)
		}
		if got := accepted.Load(); got != 1+maxRetries {
			t.Fatalf("DRStatus: %d connections, want %d", got, 1+maxRetries)
		}
		accepted.Store(0)
		_, err = c.Promote(context.Background(), "op", "", false)
		if !IsConnectionError(err) {
			t.Fatalf("Promote error = %v, want a connection error", err)
		}
		if got := accepted.Load(); got != 1 {
			t.Fatalf("Promote: %d connections, want exactly 1", got)
		}
	})
}

func TestHealthCodesAreAnswers(t *testing.T) {
	for _, code := range []int{200, 429, 472, 473, 501, 503} {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if r.URL.Query().Get("sealedcode") != "299" || r.URL.Query().Get("standbyok") != "true" {
				t.Errorf("query = %s", r.URL.RawQuery)
			}
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, `{"initialized":%t,"sealed":%t,"replication_dr_mode":"secondary"}`, code != 501, code == 503 || code == 501)
		}))
		c := mustNew(t, Config{Address: srv.URL, MaxRetries: 2, RetryWaitMin: time.Millisecond})
		h, err := c.Health(context.Background(), HealthOptions{SealedCode: 299, StandbyOK: true})
		srv.Close()
		if err != nil {
			t.Fatalf("%d: %v", code, err)
		}
		if h.StatusCode != code || h.ReplicationDRMode != "secondary" || h.Sealed != (code == 503 || code == 501) {
			t.Fatalf("%d: %+v", code, h)
		}
		if hits.Load() != 1 {
			t.Fatalf("%d: %d attempts, want 1", code, hits.Load())
		}
	}
}

func TestErrorsNeverCarrySecrets(t *testing.T) {
	const secret = "hvs.AAAAsupersecretAAAAAAAAAA"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"errors":["bad token ` + secret + `"]}`))
	}))
	defer srv.Close()
	c := mustNew(t, Config{Address: srv.URL, Token: secret})
	for name, err := range map[string]error{
		"promote": func() error { _, err := c.Promote(context.Background(), secret, "", false); return err }(),
		"enable": func() error {
			_, err := c.EnableSecondary(context.Background(), Activation{Token: secret})
			return err
		}(),
		"update": func() error { _, err := c.OperationTokenUpdate(context.Background(), secret, "n"); return err }(),
		"read":   func() error { _, err := c.DRStatus(context.Background()); return err }(),
	} {
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestParseActivationToken(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"addr":"https://p:8200","exp":1700000000,"type":"wrapping"}`))
	c, err := ParseActivationToken("eyJhbGciOiJFUzUxMiJ9." + payload + ".sig")
	if err != nil || c.Addr != "https://p:8200" || c.Expires.Unix() != 1700000000 {
		t.Fatalf("claims %+v, %v", c, err)
	}
	for _, bad := range []string{"", "abc", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("nojson")) + ".c"} {
		if _, err := ParseActivationToken(bad); !errors.Is(err, ErrNotWrappedToken) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Address: "127.0.0.1:8200"},
		{Address: ""},
		{Address: "ftp://x"},
		{Address: "http://x", MaxRetries: -1},
		{Address: "https://x", CACertFile: "/does/not/exist.pem"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func mustNew(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		msg            string
		behind, sealed bool
	}{
		{"this secondary is 3 WAL entries behind its primary; wait for it to catch up, or promote with force=true", true, false},
		{"Vault is sealed", false, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, `{"errors":[%q]}`, tc.msg)
		}))
		c := mustNew(t, Config{Address: srv.URL})
		_, err := c.Promote(context.Background(), "op", "", false)
		srv.Close()
		if IsPromotionBehind(err) != tc.behind || IsSealed(err) != tc.sealed {
			t.Errorf("%q: behind=%t sealed=%t", tc.msg, IsPromotionBehind(err), IsSealed(err))
		}
		var re *ResponseError
		if !errors.As(err, &re) || re.Message() != tc.msg {
			t.Errorf("%q: message %v", tc.msg, err)
		}
	}
}
