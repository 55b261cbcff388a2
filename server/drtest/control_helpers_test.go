package drtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// Helpers for the control-plane tests. Unlike the cluster methods in
// helpers_test.go they take the *testing.T to fail, so they are safe to call
// from subtests.

// ctlNode is a cluster together with a token that works on it: on a DR
// secondary only its primary's replicated tokens exist.
type ctlNode struct {
	*cluster
	tok string
}

// call sends one request and returns the status and the whole body.
func ctlCall(t *testing.T, c *cluster, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.srv.Addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", c.name, method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %s %s: read body: %v", c.name, method, path, err)
	}
	return resp.StatusCode, string(b)
}

// mustJSON encodes v as a request body.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// drSnapshot is everything a refused request must leave as it was.
type drSnapshot struct {
	Mode               string
	ClusterID          string
	SecondaryID        string
	PrimaryClusterAddr string
	MerkleRoot         string
	LastWAL            uint64
	LastRemoteWAL      uint64
	KnownSecondaries   []string
	WALIndex           string // vaultrepl_wal_index from sys/metrics: also set while disabled
	Canary             string // secret/canary, where the cluster serves reads
	Attempt            string // the DR operation token generation attempt
}

// snapshot reads n's DR status, WAL index, canary secret and operation
// token generation attempt.
func takeSnapshot(t *testing.T, n ctlNode) drSnapshot {
	t.Helper()
	var s drSnapshot

	code, body := ctlCall(t, n.cluster, http.MethodGet, "/v1/sys/replication/dr/status", "", "")
	if code != http.StatusOK {
		t.Fatalf("%s: DR status: %d %s", n.name, code, body)
	}
	var env struct {
		Data vaultapi.ReplicationStatusGenericResponse `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("%s: DR status: %v: %s", n.name, err, body)
	}
	st := env.Data
	s.Mode, s.ClusterID, s.SecondaryID, s.PrimaryClusterAddr = st.Mode, st.ClusterID, st.SecondaryID, st.PrimaryClusterAddr
	s.MerkleRoot, s.LastWAL, s.LastRemoteWAL, s.KnownSecondaries = st.MerkleRoot, st.LastWAL, st.LastRemoteWAL, st.KnownSecondaries

	code, body = ctlCall(t, n.cluster, http.MethodGet, "/v1/sys/metrics?format=prometheus", n.tok, "")
	if code != http.StatusOK {
		t.Fatalf("%s: metrics: %d %s", n.name, code, body)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, "vaultrepl_wal_index "); ok {
			s.WALIndex = v
		}
	}
	if s.WALIndex == "" {
		t.Fatalf("%s: metrics carry no vaultrepl_wal_index", n.name)
	}

	if s.Mode == "disabled" || s.Mode == "primary" {
		code, body = ctlCall(t, n.cluster, http.MethodGet, "/v1/secret/canary", n.tok, "")
		switch code {
		case http.StatusOK:
			var sec struct {
				Data map[string]any `json:"data"`
			}
			_ = json.Unmarshal([]byte(body), &sec)
			s.Canary = fmt.Sprint(sec.Data["v"])
		case http.StatusNotFound:
			s.Canary = "<none>"
		default:
			t.Fatalf("%s: read canary: %d %s", n.name, code, body)
		}
	}

	code, body = ctlCall(t, n.cluster, http.MethodGet, "/v1/sys/replication/dr/secondary/generate-operation-token/attempt", "", "")
	if code != http.StatusOK {
		t.Fatalf("%s: generate-operation-token status: %d %s", n.name, code, body)
	}
	var att struct {
		Started  bool   `json:"started"`
		Nonce    string `json:"nonce"`
		Progress int    `json:"progress"`
	}
	if err := json.Unmarshal([]byte(body), &att); err != nil {
		t.Fatalf("%s: generate-operation-token status: %v: %s", n.name, err, body)
	}
	s.Attempt = fmt.Sprintf("started=%t nonce=%s progress=%d", att.Started, att.Nonce, att.Progress)
	return s
}

// sameState fails the test if a refused request changed anything.
func sameState(t *testing.T, what string, before, after drSnapshot) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("%s changed the cluster's state:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// mint asks c for a wrapped activation token and fails t on error.
func mintToken(t *testing.T, c *cluster, token, id string, extra map[string]any) string {
	t.Helper()
	data := map[string]any{"id": id}
	for k, v := range extra {
		data[k] = v
	}
	sec, err := c.client(token).Logical().Write("sys/replication/dr/primary/secondary-token", data)
	if err != nil {
		t.Fatalf("%s: secondary-token %s: %v", c.name, id, err)
	}
	if sec == nil || sec.WrapInfo == nil || sec.WrapInfo.Token == "" {
		t.Fatalf("%s: secondary-token %s answered no wrap_info: %+v", c.name, id, sec)
	}
	return sec.WrapInfo.Token
}

// closedAddr is an http address on a loopback port nothing listens on.
func closedAddr(t *testing.T) string {
	return fmt.Sprintf("http://127.0.0.1:%d", testserver.FreePort(t))
}

// jwtClaims decodes the claims of a compact JWS without verifying it.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	return claims
}

// wantError checks an error answer's status and message.
func wantAPIError(t *testing.T, what string, code int, body string, wantCode int, wantSubs ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: status %d, want %d: %s", what, code, wantCode, body)
		return
	}
	var e struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e.Errors) == 0 {
		t.Errorf("%s: not a Vault error body: %s", what, body)
		return
	}
	msg := strings.Join(e.Errors, "; ")
	for _, s := range wantSubs {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: message %q does not mention %q", what, msg, s)
		}
	}
}
