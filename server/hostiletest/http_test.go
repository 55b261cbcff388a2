package hostiletest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/pathcheck"
)

const rootToken = "root"

// maxPeakRSS bounds the server's peak resident set (VmHWM) over the whole
// table. Before the request pipeline was bounded, the first attack alone
// (32 MiB of [0,0,...] to sys/unseal without a token) took it to 1.17 GB;
// now the whole table peaks at ~30 MiB (measured on linux/amd64).
const maxPeakRSS = 150 << 20

// mib32 is just under the 32 MiB body limit, so only the JSON limits apply.
const mib32 = 32<<20 - 64

// zeros is {"key":[0,0,...]} of about size bytes.
func zeros(size int) []byte {
	n := (size - 10) / 2
	return []byte(`{"key":[` + strings.Repeat("0,", n-1) + `0]}`)
}

func policyBody(rules string) []byte {
	b, err := json.Marshal(map[string]string{"policy": rules})
	if err != nil {
		panic(err)
	}
	return b
}

// TestHostileHTTP sends each attack to a live server and checks the clear
// 4xx it gets in Vault's error form, that the server still answers
// sys/health afterwards and that its peak RSS stays under maxPeakRSS.
func TestHostileHTTP(t *testing.T) {
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{Args: []string{"-dev", "-dev-root-token-id", rootToken}})
	unsealZeros := zeros(mib32)
	deepJSON := []byte(`{"a":` + strings.Repeat("[", mib32))
	deepHCL := `path "x" { capabilities = ` + strings.Repeat("[", 400_000) + `"read"` + strings.Repeat("]", 400_000) + ` }`

	tests := []struct {
		name    string
		method  string
		path    string // sent as is: percent-escapes reach the server undecoded
		token   string
		body    []byte
		chunked bool // no Content-Length: the server must stop reading by itself
		status  int
		message string
	}{
		{"32 MiB unseal body without a token", "PUT", "/v1/sys/unseal", "", unsealZeros, false, 413, "64 KiB limit"},
		{"32 MiB unseal body, chunked", "PUT", "/v1/sys/unseal", "", unsealZeros, true, 413, "64 KiB limit"},
		{"unseal key over the per-field cap", "PUT", "/v1/sys/unseal", "", []byte(`{"key":"` + strings.Repeat("a", 5000) + `"}`), false, 400, "4096 bytes"},
		{"unseal key over the per-field cap in the query", "PUT", "/v1/sys/unseal?key=" + strings.Repeat("a", 5000), "", nil, false, 400, "4096 bytes"},
		{"32 MiB body to a DR route authorised by a body token", "PUT", "/v1/sys/replication/dr/secondary/promote", "", unsealZeros, true, 413, "64 KiB limit"},
		{"32 MiB op-token update body", "PUT", "/v1/sys/replication/dr/secondary/generate-operation-token/update", "", unsealZeros, true, 413, "64 KiB limit"},
		{"32 MiB wrapping unwrap body", "PUT", "/v1/sys/wrapping/unwrap", "", unsealZeros, true, 413, "64 KiB limit"},
		{"32 MiB KV body without a token", "PUT", "/v1/secret/x", "", unsealZeros, true, 403, "permission denied"},
		{"32 MiB KV body with a bad token", "PUT", "/v1/secret/x", "hvs.nope", unsealZeros, true, 403, "permission denied"},
		{"deep JSON with a token", "PUT", "/v1/secret/deep", rootToken, deepJSON, true, 400, "deeper than the limit of 64 levels"},
		{"32 MiB of tiny elements with a token", "PUT", "/v1/secret/many", rootToken, zeros(mib32), false, 400, "more than 32768 JSON values"},
		{"deep HCL policy", "PUT", "/v1/sys/policies/acl/deep", rootToken, policyBody(deepHCL), false, 400, "deeper than the limit of 32 levels"},
		{"JSON policy with nested capabilities", "PUT", "/v1/sys/policies/acl/nested", rootToken, policyBody(`{"path":{"secret/*":{"capabilities":[["read"]]}}}`), false, 400, "flat list of strings"},
		{"policy path pattern with a newline", "PUT", "/v1/sys/policies/acl/nl", rootToken, policyBody(`{"path":{"secret/a\nb":{"capabilities":["read"]}}}`), false, 400, "U+000A"},
		{"KV key with NUL", "PUT", "/v1/secret/a%00b", rootToken, []byte(`{"v":1}`), false, 400, "control character U+0000"},
		{"KV key with a newline", "PUT", "/v1/secret/a%0Ab", rootToken, []byte(`{"v":1}`), false, 400, "control character U+000A"},
		{"KV key with invalid UTF-8", "PUT", "/v1/secret/a%FFb", rootToken, []byte(`{"v":1}`), false, 400, "not valid UTF-8"},
		{"KV key too long", "PUT", "/v1/secret/" + strings.Repeat("k", pathcheck.MaxBytes), rootToken, []byte(`{"v":1}`), false, 400, "limit is 1024 bytes"},
		{"KV key too deep", "PUT", "/v1/secret/" + strings.Repeat("d/", pathcheck.MaxSegments) + "k", rootToken, []byte(`{"v":1}`), false, 400, "limit is 64"},
		{"policy name with NUL", "PUT", "/v1/sys/policies/acl/a%00b", rootToken, policyBody(`path "x" { capabilities = ["read"] }`), false, 400, "control character U+0000"},
		{"KV key with NUL, no token", "PUT", "/v1/secret/a%00b", "", []byte(`{"v":1}`), false, 400, "invalid request path"},
		{"activation ttl that overflows", "PUT", "/v1/sys/replication/dr/primary/secondary-token", rootToken, []byte(`{"id":"s1","ttl":"106752d"}`), false, 400, `parameter "ttl": expected a duration`},
		{"activation ttl in seconds that overflows", "PUT", "/v1/sys/replication/dr/primary/secondary-token", rootToken, []byte(`{"id":"s1","ttl":9223372037}`), false, 400, `parameter "ttl": expected a duration`},
		{"negative activation ttl", "PUT", "/v1/sys/replication/dr/primary/secondary-token", rootToken, []byte(`{"id":"s1","ttl":"-1h"}`), false, 400, `parameter "ttl"`},
		{"activation ttl over the limit", "PUT", "/v1/sys/replication/dr/primary/secondary-token", rootToken, []byte(`{"id":"s1","ttl":"769h"}`), false, 400, "longer than the 768h0m0s limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := send(t, srv, tt.method, tt.path, tt.token, tt.body, tt.chunked)
			if status != tt.status {
				t.Fatalf("status %d, want %d; body %.300s", status, tt.status, body)
			}
			assertVaultError(t, body, tt.message)
			assertHealthy(t, srv)
		})
	}

	// The reproduction: four such bodies at once took a server
	// capped at 4 GB down.
	t.Run("four concurrent 32 MiB unseal bodies", func(t *testing.T) {
		statuses := make(chan int, 4)
		for range 4 {
			go func() {
				status, _, err := sendNoFatal(srv, "PUT", "/v1/sys/unseal", "", unsealZeros, true)
				if err != nil {
					t.Error(err)
				}
				statuses <- status
			}()
		}
		for range 4 {
			if status := <-statuses; status != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", status)
			}
		}
		assertHealthy(t, srv)
	})

	// Nothing the attacks sent was stored: the policies do not exist and
	// every key LIST returns can be addressed again.
	for _, name := range []string{"deep", "nested", "nl"} {
		if status, body := send(t, srv, "GET", "/v1/sys/policies/acl/"+name, rootToken, nil, false); status != http.StatusNotFound {
			t.Errorf("policy %q: status %d after a refused write, want 404; body %.200s", name, status, body)
		}
	}
	if status, body := send(t, srv, "PUT", "/v1/secret/ok", rootToken, []byte(`{"v":1}`), false); status != http.StatusNoContent {
		t.Fatalf("a valid write after the attacks: status %d; body %.200s", status, body)
	}
	assertListable(t, srv)

	assertPeakRSS(t, srv, "all attacks", maxPeakRSS)
}

// send writes one request on a raw connection and reads the answer while
// the body is still being written: a server that answers early (413, 403)
// may close the connection before taking the whole body, and the answer
// must be read all the same.
func send(t *testing.T, srv *testserver.Server, method, path, token string, body []byte, chunked bool) (int, string) {
	t.Helper()
	status, resp, err := sendNoFatal(srv, method, path, token, body, chunked)
	if err != nil {
		t.Fatal(err)
	}
	return status, resp
}

// sendNoFatal is send for goroutines other than the test's.
func sendNoFatal(srv *testserver.Server, method, path, token string, body []byte, chunked bool) (int, string, error) {
	u, err := url.Parse(srv.Addr)
	if err != nil {
		return 0, "", err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = conn.Close() }()
	if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		return 0, "", err
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		writeRequest(conn, u.Host, method, path, token, body, chunked)
	}()
	defer func() {
		_ = conn.Close() // ends a write the server stopped reading
		<-written
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: read response body: %w", method, path, err)
	}
	return resp.StatusCode, string(data), nil
}

// writeRequest writes an HTTP/1.1 request; write errors are expected when
// the server refuses the body early, and are left to the reader to judge.
func writeRequest(w io.Writer, host, method, path, token string, body []byte, chunked bool) {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Type: application/json\r\n", method, path, host)
	if token != "" {
		fmt.Fprintf(bw, "X-Vault-Token: %s\r\n", token)
	}
	if chunked {
		fmt.Fprint(bw, "Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(bw)
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			if _, err := cw.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		_ = cw.Close()
		fmt.Fprint(bw, "\r\n")
	} else {
		fmt.Fprintf(bw, "Content-Length: %d\r\n\r\n", len(body))
		_, _ = bw.Write(body)
	}
	_ = bw.Flush()
}

// assertVaultError checks that body is Vault's {"errors":[...]} and that
// the joined messages contain want.
func assertVaultError(t *testing.T, body, want string) {
	t.Helper()
	var e struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Errors == nil {
		t.Fatalf("body is not Vault's error form: %.300q", body)
	}
	if got := strings.Join(e.Errors, "; "); !strings.Contains(got, want) {
		t.Fatalf("errors %q do not mention %q", got, want)
	}
}

func assertHealthy(t *testing.T, srv *testserver.Server) {
	t.Helper()
	if status, body := send(t, srv, "GET", "/v1/sys/health", "", nil, false); status != http.StatusOK {
		t.Fatalf("sys/health answered %d after the attack: %.300s", status, body)
	}
}

// assertListable lists secret/ and checks every key is a valid path.
func assertListable(t *testing.T, srv *testserver.Server) {
	t.Helper()
	status, body := send(t, srv, "GET", "/v1/secret/?list=true", rootToken, nil, false)
	if status != http.StatusOK {
		t.Fatalf("LIST secret/: status %d; body %.300s", status, body)
	}
	var resp struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("LIST secret/: %v in %.300s", err, body)
	}
	if len(resp.Data.Keys) == 0 {
		t.Fatalf("LIST secret/ returned no keys: %.300s", body)
	}
	for _, k := range resp.Data.Keys {
		if err := pathcheck.Validate("secret/" + k); err != nil {
			t.Errorf("LIST returned key %q that cannot be addressed: %v", k, err)
		}
	}
}

// Peak RSS bounds for a server that stores and serves one 30 MiB value,
// the largest a client may send. Measured: ~230 MiB after the write (the
// body is decoded, encoded for storage and written to SQLite; ~300 MiB
// before the decoder was bounded) and ~410 MiB after reading it back (the
// stored bytes, the decoded map and the encoded response coexist). The
// bounds leave room for the garbage collector's timing.
const (
	maxPeakRSSLargeWrite = 384 << 20
	maxPeakRSSLargeRead  = 640 << 20
)

// TestLargeValueWithinBound: the largest body the API accepts is still
// stored, read back and costs a bounded multiple of its size.
func TestLargeValueWithinBound(t *testing.T) {
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{Args: []string{"-dev", "-dev-root-token-id", rootToken}})
	value := strings.Repeat("x", 30<<20)
	body := []byte(`{"v":"` + value + `"}`)
	if status, resp := send(t, srv, "PUT", "/v1/secret/big", rootToken, body, false); status != http.StatusNoContent {
		t.Fatalf("writing a 30 MiB value: status %d; body %.300s", status, resp)
	}
	assertPeakRSS(t, srv, "writing 30 MiB", maxPeakRSSLargeWrite)
	status, resp := send(t, srv, "GET", "/v1/secret/big", rootToken, nil, false)
	if status != http.StatusOK {
		t.Fatalf("reading it back: status %d; body %.300s", status, resp)
	}
	var got struct {
		Data struct {
			V string `json:"v"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(resp), &got); err != nil || got.Data.V != value {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got.Data.V), err, len(value))
	}
	assertPeakRSS(t, srv, "writing and reading 30 MiB", maxPeakRSSLargeRead)
}

func assertPeakRSS(t *testing.T, srv *testserver.Server, what string, bound int64) {
	t.Helper()
	peak, err := srv.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak RSS after %s: %d MiB (bound %d MiB)", what, peak>>20, bound>>20)
	if peak > bound {
		t.Fatalf("peak RSS after %s is %d MiB, over the %d MiB bound", what, peak>>20, bound>>20)
	}
}
