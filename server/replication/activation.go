package replication

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
)

// ActivationRequest is what secondary enable and update-primary receive.
type ActivationRequest struct {
	Token          string
	PrimaryAPIAddr string
	CAFile         string
	CAPath         string
}

// activate turns an activation token into the bundle it carries: a wrapped
// token is unwrapped at the primary's API, one encrypted to this cluster's
// exchange key is opened here without any call.
func (m *Manager) activate(ctx context.Context, cur *state, req ActivationRequest) (*drcrypto.Bundle, error) {
	token := strings.TrimSpace(req.Token)
	if !drcrypto.LooksLikeJWT(token) {
		if cur.ExchangeKey == "" {
			return nil, apierr.Invalid("%s", m.say("the activation token is neither a wrapped token (JWT) nor one encrypted to this cluster's key: pass the token from sys/replication/dr/primary/secondary-token (or call generate-public-key here first and mint the token with secondary_public_key)"))
		}
		key, err := drcrypto.UnmarshalExchangeKey([]byte(cur.ExchangeKey))
		if err != nil {
			return nil, fmt.Errorf("load exchange key: %w", err)
		}
		b, err := drcrypto.OpenBundle(key, token)
		switch {
		case errors.Is(err, drcrypto.ErrWrongKey):
			return nil, apierr.Invalid("the activation token was encrypted to a different public key: mint it with the secondary_public_key this cluster returned most recently from generate-public-key")
		case err != nil:
			return nil, apierr.Invalid("the activation token could not be read: %v; pass the token exactly as secondary-token returned it", err)
		}
		// On or after exp, as the primary's VerifyJWT judges (RFC 7519 §4.1.4).
		if m.now().Unix() >= b.ExpiresAt {
			return nil, apierr.Invalid(m.say("the activation token expired at %s: mint a new one with sys/replication/dr/primary/secondary-token"), time.Unix(b.ExpiresAt, 0).UTC().Format(time.RFC3339))
		}
		return &b, nil
	}

	claims, err := drcrypto.ParseJWTUnverified(token)
	if err != nil {
		return nil, apierr.Invalid("the activation token is malformed: %v; pass the wrap_info.token from secondary-token unchanged", err)
	}
	if m.now().Unix() >= claims.Exp {
		return nil, apierr.Invalid(m.say("the activation token expired at %s: mint a new one with sys/replication/dr/primary/secondary-token"), time.Unix(claims.Exp, 0).UTC().Format(time.RFC3339))
	}
	addr := req.PrimaryAPIAddr
	if addr == "" {
		addr = claims.Addr
	}
	if addr == "" {
		return nil, apierr.Invalid("the activation token names no primary API address: pass primary_api_addr")
	}
	client, err := unwrapClient(req.CAFile, req.CAPath)
	if err != nil {
		return nil, err
	}
	return m.unwrapAt(ctx, client, addr, token, req.PrimaryAPIAddr != "")
}

// MaxUnwrapResponseBytes bounds the primary API's answer to the unwrap
// call; an activation bundle is a few KiB.
const MaxUnwrapResponseBytes = 1 << 20

// unwrapClient trusts ca_file / ca_path (or the system roots) for the
// primary's API. It follows no redirects: the address is the caller's, and
// a redirect could send the activation token anywhere.
func unwrapClient(caFile, caPath string) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" || caPath != "" {
		pool, err := loadCAPool(caFile, caPath)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	}
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

func (m *Manager) unwrapAt(ctx context.Context, client *http.Client, addr, token string, overridden bool) (*drcrypto.Bundle, error) {
	u, err := url.Parse(strings.TrimRight(addr, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, apierr.Invalid("primary API address %q is not an http(s) URL: pass primary_api_addr such as https://primary.example:8200", addr)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String()+"/v1/sys/wrapping/unwrap", strings.NewReader("{}"))
	if err != nil {
		return nil, fmt.Errorf("build unwrap request: %w", err)
	}
	req.Header.Set("X-Vault-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		hint := "check that the primary is running and reachable from this cluster, or pass primary_api_addr if its API is at another address"
		if overridden {
			hint = "check primary_api_addr and that the primary is running and reachable from this cluster"
		}
		// The transport's own text stays in the debug log: for an
		// arbitrary address it tells ports, certificate names and more
		// about services the caller may not otherwise reach.
		m.log.Debug("unwrap call failed", "addr", u.Redacted(), "error", redactToken(err, token))
		what := "the primary is unreachable at"
		var certErr *tls.CertificateVerificationError
		var netErr net.Error
		switch {
		case errors.As(err, &certErr) || strings.Contains(err.Error(), "certificate"):
			what = "TLS failure with the primary at"
			hint = "the primary's TLS certificate is not trusted: pass ca_file or ca_path"
		case errors.As(err, &netErr) && netErr.Timeout():
			what = "the primary did not answer in time (unreachable) at"
		}
		return nil, apierr.Invalid("could not unwrap the activation token: %s %s; %s", what, u.Redacted(), hint)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxUnwrapResponseBytes+1))
	if err != nil {
		return nil, apierr.Invalid("reading the primary's unwrap answer from %s failed (HTTP %d): check primary_api_addr", u.Redacted(), resp.StatusCode)
	}
	if len(body) > MaxUnwrapResponseBytes {
		return nil, apierr.Invalid("the server at %s answered the unwrap with HTTP %d and more than %d MiB: an activation bundle is a few KiB; check primary_api_addr", u.Redacted(), resp.StatusCode, MaxUnwrapResponseBytes>>20)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, m.unwrapRefused(u, resp.StatusCode, body)
	}
	var env struct {
		Data drcrypto.Bundle `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Data.ClusterID == "" || env.Data.ClientCert == "" {
		return nil, apierr.Invalid(m.say("the server at %s did not answer the unwrap with an activation bundle: is it the DR primary?"), u.Redacted())
	}
	return &env.Data, nil
}

// unwrapRefused explains a non-200 unwrap answer. The remote body is
// logged at debug level and never returned: the address is the caller's
// choice, and echoing what an arbitrary internal service answers would
// make this endpoint a way to read it.
func (m *Manager) unwrapRefused(u *url.URL, code int, body []byte) error {
	m.log.Debug("primary API refused the unwrap", "addr", u.Redacted(), "status", code, "body", string(body))
	var e struct {
		Errors []string `json:"errors"`
	}
	_ = json.Unmarshal(body, &e)
	switch {
	case code == http.StatusBadRequest && len(e.Errors) > 0 && strings.Contains(e.Errors[0], "wrapping token is not valid"):
		return apierr.Invalid("the primary at %s refused the activation token: it was already used, has expired, or was not issued by that primary; mint a new one with secondary-token", u.Redacted())
	case code/100 == 3:
		return apierr.Invalid("the server at %s answered the unwrap with a redirect (HTTP %d), which is not followed: pass the primary's API address itself as primary_api_addr", u.Redacted(), code)
	}
	return apierr.Invalid(m.say("the server at %s answered the unwrap with HTTP %d (its answer is in this cluster's debug log): check primary_api_addr and that it is this DR set's primary"), u.Redacted(), code)
}

// redactToken keeps a token out of an error that might echo the request.
func redactToken(err error, token string) string {
	return strings.ReplaceAll(err.Error(), token, "[redacted]")
}
