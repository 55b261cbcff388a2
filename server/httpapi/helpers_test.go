package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/core"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// testCluster is one cluster served over real HTTP on loopback, on a real
// SQLite file.
type testCluster struct {
	t     *testing.T
	core  *core.Core
	srv   *httptest.Server
	now   *fakeClock
	root  string
	keys  []string
	store *storage.Store
}

type fakeClock struct{ offset time.Duration }

func (c *fakeClock) Now() time.Time { return time.Now().Add(c.offset) }

// newCluster starts an uninitialised cluster.
func newCluster(t *testing.T) *testCluster {
	t.Helper()
	store, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "cluster.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	c, err := core.New(context.Background(), store, core.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(c).Handler())
	t.Cleanup(func() {
		srv.Close()
		c.Close()
		_ = store.Close()
	})
	return &testCluster{t: t, core: c, srv: srv, now: clock, store: store}
}

// newUnsealedCluster starts a cluster initialised with 3 of 5 shares and unsealed.
func newUnsealedCluster(t *testing.T) *testCluster {
	t.Helper()
	tc := newCluster(t)
	c := tc.client("")
	res, err := c.Sys().Init(&vaultapi.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	tc.root, tc.keys = res.RootToken, res.Keys
	tc.unseal()
	return tc
}

// unseal submits threshold shares.
func (tc *testCluster) unseal() {
	tc.t.Helper()
	for _, k := range tc.keys[:3] {
		if _, err := tc.client("").Sys().Unseal(k); err != nil {
			tc.t.Fatalf("unseal: %v", err)
		}
	}
}

// client is the official Vault Go client pointed at the cluster.
func (tc *testCluster) client(token string) *vaultapi.Client {
	tc.t.Helper()
	cfg := vaultapi.DefaultConfig()
	cfg.Address = tc.srv.URL
	cfg.MaxRetries = 0
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		tc.t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// do sends a raw request and returns status and body.
func (tc *testCluster) do(method, path, token, body string) (int, string) {
	tc.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, tc.srv.URL+path, rd)
	if err != nil {
		tc.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := tc.srv.Client().Do(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tc.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// token creates a token with the given policies using the root token.
func (tc *testCluster) token(policies ...string) string {
	tc.t.Helper()
	sec, err := tc.client(tc.root).Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: policies})
	if err != nil {
		tc.t.Fatalf("create token: %v", err)
	}
	return sec.Auth.ClientToken
}

// wantResponseError fails unless err is the official client's ResponseError
// with this status and an error message containing substr.
func wantResponseError(t *testing.T, what string, err error, status int, substr string) {
	t.Helper()
	var re *vaultapi.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: err = %v, want a %d response", what, err, status)
	}
	if re.StatusCode != status || !strings.Contains(strings.Join(re.Errors, "; "), substr) {
		t.Fatalf("%s: status %d errors %q, want %d mentioning %q", what, re.StatusCode, re.Errors, status, substr)
	}
}
