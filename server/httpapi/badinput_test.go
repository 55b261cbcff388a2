package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// assertVaultError checks that body is Vault's {"errors":[...]} and that the
// joined messages contain want.
func assertVaultError(t *testing.T, body, want string) {
	t.Helper()
	var e struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Errors == nil {
		t.Fatalf("body is not Vault's error form: %q", body)
	}
	if got := strings.Join(e.Errors, "; "); !strings.Contains(got, want) {
		t.Fatalf("errors %q do not mention %q", got, want)
	}
}

func TestBadInput(t *testing.T) {
	tc := newUnsealedCluster(t)
	big := `{"v":"` + strings.Repeat("x", maxBodyBytes+1) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"malformed JSON", "PUT", "/v1/secret/x", `{"a":`, 400, "failed to parse JSON input"},
		{"JSON array body", "PUT", "/v1/secret/x", `[1,2]`, 400, "must be a JSON object, got an array"},
		{"JSON string body", "PUT", "/v1/sys/policies/acl/p", `"x"`, 400, "must be a JSON object, got a string"},
		{"trailing data", "PUT", "/v1/secret/x", `{"a":1} {"b":2}`, 400, "unexpected data after the JSON object"},
		{"empty secret", "PUT", "/v1/secret/x", `{}`, 400, "missing data fields"},
		{"secret path is a folder", "PUT", "/v1/secret/x/", `{"a":1}`, 400, "is not a secret path"},
		{"secret path missing", "PUT", "/v1/secret/", `{"a":1}`, 400, "is not a secret path"},
		{"wrong type for ttl", "PUT", "/v1/auth/token/create", `{"ttl":true}`, 400, `parameter "ttl": expected a duration`},
		{"bad duration string", "PUT", "/v1/auth/token/create", `{"ttl":"soon"}`, 400, `"soon"`},
		{"wrong type for policies", "PUT", "/v1/auth/token/create", `{"policies":5}`, 400, `parameter "policies"`},
		{"unknown token type", "PUT", "/v1/auth/token/create", `{"type":"gold"}`, 400, "gold"},
		{"unknown role", "PUT", "/v1/auth/token/create/nope", `{}`, 400, "nope"},
		{"missing policy text", "PUT", "/v1/sys/policies/acl/p", `{}`, 400, `missing required parameter "policy"`},
		{"invalid policy HCL", "PUT", "/v1/sys/policies/acl/p", `{"policy":"path \"x\" { capabilities = [\"fly\"] }"}`, 400, "fly"},
		{"unparsable policy", "PUT", "/v1/sys/policies/acl/p", `{"policy":"path {"}`, 400, "failed to parse policy"},
		{"root policy is fixed", "PUT", "/v1/sys/policies/acl/root", `{"policy":"path \"x\" { capabilities = [\"read\"] }"}`, 400, "root"},
		{"delete default policy", "DELETE", "/v1/sys/policies/acl/default", ``, 400, "default"},
		{"missing token to revoke", "PUT", "/v1/auth/token/revoke", `{}`, 400, `missing required parameter "token"`},
		{"unknown token to look up", "PUT", "/v1/auth/token/lookup", `{"token":"hvs.AAAAAAAAAAAAAAAAAAAAAAAA"}`, 403, "bad token"},
		{"missing accessor to look up", "PUT", "/v1/auth/token/lookup-accessor", `{}`, 400, "missing accessor"},
		{"unknown accessor to look up", "PUT", "/v1/auth/token/lookup-accessor", `{"accessor":"nope"}`, 400, "invalid accessor"},
		{"missing token to renew", "PUT", "/v1/auth/token/renew", `{}`, 400, "missing token ID"},
		{"unknown token to renew", "PUT", "/v1/auth/token/renew", `{"token":"hvs.AAAAAAAAAAAAAAAAAAAAAAAA"}`, 400, "token not found"},
		{"root token is not renewable", "PUT", "/v1/auth/token/renew-self", `{}`, 400, "lease is not renewable"},
		{"missing accessor to renew", "PUT", "/v1/auth/token/renew-accessor", `{}`, 400, "missing accessor"},
		{"missing paths for capabilities", "PUT", "/v1/sys/capabilities-self", `{}`, 400, "paths must be supplied"},
		{"missing token for capabilities", "PUT", "/v1/sys/capabilities", `{"path":"secret/x"}`, 400, "no token found"},
		{"unknown token for capabilities", "PUT", "/v1/sys/capabilities", `{"token":"hvs.AAAAAAAAAAAAAAAAAAAAAAAA","path":"secret/x"}`, 400, "invalid token"},
		{"unknown accessor for capabilities", "PUT", "/v1/sys/capabilities-accessor", `{"accessor":"nope","path":"secret/x"}`, 400, "invalid accessor"},
		{"generate-root update without an attempt", "PUT", "/v1/sys/generate-root/update", `{"key":"00","nonce":"x"}`, 400, "no root token generation in progress"},
		{"generate-root update without a key", "PUT", "/v1/sys/generate-root/update", `{"nonce":"x"}`, 400, "'key' must be specified"},
		{"generate-root otp of the wrong length", "PUT", "/v1/sys/generate-root/attempt", `{"otp":"short"}`, 400, "otp must be 28 characters"},
		{"missing unseal key", "PUT", "/v1/sys/unseal", `{}`, 400, `missing required parameter "key"`},
		{"garbage unseal key", "PUT", "/v1/sys/unseal", `{"key":"not-a-key!"}`, 400, "hex or base64"},
		{"init twice", "PUT", "/v1/sys/init", `{"secret_shares":1,"secret_threshold":1}`, 400, "already initialized"},
		{"init with wrong types", "PUT", "/v1/sys/init", `{"secret_shares":"many"}`, 400, `parameter "secret_shares": expected an integer`},
		{"health with a bad code", "GET", "/v1/sys/health?activecode=abc", ``, 400, "activecode"},
		{"body over the size limit", "PUT", "/v1/secret/big", big, 413, "32 MiB"},
		{"wrong method on health", "DELETE", "/v1/sys/health", ``, 405, "DELETE"},
		{"wrong method on a secret", "PATCH", "/v1/secret/x", `{}`, 405, "PATCH"},
		{"GET on a list-only path", "GET", "/v1/auth/token/roles", ``, 405, "LIST"},
		{"unknown sys path", "GET", "/v1/sys/nope", ``, 404, "unsupported path"},
		{"unknown mount", "GET", "/v1/kv/data/x", ``, 404, `no handler for route "kv/data/x"`},
		{"missing secret", "GET", "/v1/secret/never-written", ``, 404, ""},
		{"missing policy", "GET", "/v1/sys/policies/acl/never", ``, 404, ""},
		{"missing role", "GET", "/v1/auth/token/roles/never", ``, 404, ""},
		{"empty list", "LIST", "/v1/secret/empty/", ``, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tc.store.Position()
			code, body := tc.do(tt.method, tt.path, tc.root, tt.body)
			if code != tt.status {
				t.Fatalf("status %d, want %d; body %.300s", code, tt.status, body)
			}
			assertVaultError(t, body, tt.message)
			if after := tc.store.Position(); after != before {
				t.Fatalf("a refused request changed replicated data: %+v -> %+v", before, after)
			}
		})
	}
}

// TestUnknownParametersWarn: Vault ignores unknown parameters but says so.
func TestUnknownParametersWarn(t *testing.T) {
	tc := newUnsealedCluster(t)
	code, body := tc.do("PUT", "/v1/auth/token/create", tc.root, `{"policies":["default"],"colour":"blue"}`)
	if code != http.StatusOK || !strings.Contains(body, "unrecognized parameters: [colour]") {
		t.Fatalf("status %d body %s", code, body)
	}
}

// TestPanicIsRecovered: a handler panic answers 500 in Vault's form, the
// log says where without the panic's value, and the server keeps serving.
func TestPanicIsRecovered(t *testing.T) {
	tc := newUnsealedCluster(t)
	var logs bytes.Buffer
	tc.core.Log = slog.New(slog.NewTextHandler(&logs, nil))
	api := New(tc.core)
	boom := &route{method: "GET", path: "sys/boom", auth: authNone, sealed: true, handle: func(*request) (response, error) { panic("hvs.secret-in-panic") }}
	srv := httptest.NewServer(api.handler(append(api.routes(), boom)))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/sys/boom")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	assertVaultError(t, string(body), "internal error")
	if !strings.Contains(logs.String(), "/v1/sys/boom") || strings.Contains(logs.String(), "secret-in-panic") {
		t.Fatalf("log should name the path and not the panic value:\n%s", logs.String())
	}
	resp, err = http.Get(srv.URL + "/v1/sys/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("server after a panic: %v %v", resp, err)
	}
	_ = resp.Body.Close()
}

// TestSealedRefusesEverythingButSealPaths checks the 503 gate.
func TestSealedRefusesEverythingButSealPaths(t *testing.T) {
	tc := newUnsealedCluster(t)
	if code, body := tc.do("PUT", "/v1/sys/seal", tc.root, ""); code != http.StatusNoContent {
		t.Fatalf("seal: %d %s", code, body)
	}
	for _, p := range []struct{ method, path string }{
		{"GET", "/v1/secret/x"}, {"PUT", "/v1/auth/token/create"}, {"LIST", "/v1/sys/policies/acl"}, {"GET", "/v1/auth/token/lookup-self"}, {"GET", "/v1/not/a/route"},
	} {
		code, body := tc.do(p.method, p.path, tc.root, "")
		if code != http.StatusServiceUnavailable {
			t.Errorf("%s %s while sealed: %d, want 503", p.method, p.path, code)
			continue
		}
		assertVaultError(t, body, "Vault is sealed")
	}
	for _, p := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/sys/seal-status", 200}, {"GET", "/v1/sys/init", 200}, {"GET", "/v1/sys/health", 503}, {"GET", "/v1/sys/health?sealedcode=299", 299},
	} {
		if code, _ := tc.do(p.method, p.path, "", ""); code != p.status {
			t.Errorf("%s %s while sealed: %d, want %d", p.method, p.path, code, p.status)
		}
	}
}
