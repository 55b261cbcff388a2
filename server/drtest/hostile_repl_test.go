package drtest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hostilePeakRSSBound is what a secondary may reach while it refuses the
// hostile activation requests below; /dev/zero read to the end would take
// all memory.
const hostilePeakRSSBound = 64 << 20

// TestHostileActivationInput sends secondary/enable requests an attacker
// (or a careless operator) would: CA files that are devices, FIFOs, too
// large or too many; an unusable token with a CA file that does not exist;
// a primary_api_addr that redirects, answers 10 MB or answers with text
// that must stay private. Each gets a 400 naming the problem without the
// OS's or the remote's text, the secondary stays healthy and bounded in
// memory, and the valid token the cases carried is still unused: the
// cluster enables with it afterwards.
func TestHostileActivationInput(t *testing.T) {
	a, b := startCluster(t, "A"), startCluster(t, "B")
	if _, err := a.rootClient().Logical().Write(pEnablePrimary, nil); err != nil {
		t.Fatalf("enable primary: %v", err)
	}
	token := a.secondaryToken(a.root, "b", nil)
	dir := t.TempDir()

	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	large := filepath.Join(dir, "large.pem")
	if err := os.WriteFile(large, make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	crowded := filepath.Join(dir, "crowded")
	if err := os.Mkdir(crowded, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range 1001 {
		if err := os.WriteFile(filepath.Join(crowded, fmt.Sprintf("%04d.pem", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "no-such-dir", "id_rsa")

	// Remote services the unwrap must not trust: a redirect (to a server
	// that counts visits), a 10 MB answer and one with a private body.
	var redirectVisits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		redirectVisits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(elsewhere.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("HUGE-BODY-", 1024))
		for range (10 << 20) / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(huge.Close)
	const private = "INTERNAL-SECRET-7f3a9c"
	chatty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprintf(w, `{"errors":["db password is %s"]}`, private)
	}))
	t.Cleanup(chatty.Close)

	expired := expiredLookingToken(t, token)
	cases := []struct {
		name    string
		body    map[string]any
		want    []string
		notWant []string
	}{
		{name: "ca_file is /dev/zero", body: map[string]any{"token": token, "ca_file": "/dev/zero"},
			want: []string{"ca_file is not a regular file"}},
		{name: "ca_file is a FIFO", body: map[string]any{"token": token, "ca_file": fifo},
			want: []string{"ca_file is not a regular file"}},
		{name: "ca_file larger than 1 MiB", body: map[string]any{"token": token, "ca_file": large},
			want: []string{"ca_file is larger than 1 MiB"}},
		{name: "ca_file missing", body: map[string]any{"token": token, "ca_file": missing},
			want: []string{"ca_file could not be read"}, notWant: []string{"no such file", missing}},
		{name: "ca_path with too many entries", body: map[string]any{"token": token, "ca_path": crowded},
			want: []string{"ca_path holds more than 1000 entries"}},
		{name: "ca_path is a device", body: map[string]any{"token": token, "ca_path": "/dev/zero"},
			want: []string{"ca_path is not a readable folder"}},
		{name: "token signed with alg none and a missing ca_file", body: map[string]any{"token": "eyJhbGciOiJub25lIn0.e30.c2ln", "ca_file": missing},
			want: []string{"activation token is malformed"}, notWant: []string{"ca_file", "no such file"}},
		{name: "expired token with a missing ca_file", body: map[string]any{"token": expired, "ca_file": missing},
			want: []string{"activation token expired"}, notWant: []string{"ca_file", "no such file"}},
		{name: "primary_api_addr redirects", body: map[string]any{"token": token, "primary_api_addr": redirect.URL},
			want: []string{redirect.URL, "redirect (HTTP 302)"}, notWant: []string{elsewhere.URL}},
		{name: "primary_api_addr answers 10 MB", body: map[string]any{"token": token, "primary_api_addr": huge.URL},
			want: []string{huge.URL, "HTTP 500", "more than 1 MiB"}, notWant: []string{"HUGE-BODY"}},
		{name: "primary_api_addr answers a private error", body: map[string]any{"token": token, "primary_api_addr": chatty.URL},
			want: []string{chatty.URL, "HTTP 403"}, notWant: []string{private, "db password"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			code, body := ctlCall(t, b, http.MethodPut, "/v1/sys/replication/dr/secondary/enable", b.root, mustJSON(tc.body))
			wantAPIError(t, tc.name, code, body, http.StatusBadRequest, tc.want...)
			for _, s := range append(tc.notWant, token) {
				if strings.Contains(body, s) {
					t.Errorf("answer reveals %q: %s", s, body)
				}
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("refusal took %s", took)
			}
			assertHealthyDisabled(t, b)
		})
	}
	if n := redirectVisits.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
	for line := range strings.SplitSeq(b.srv.Output(), "\n") {
		if strings.Contains(line, private) && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("the remote's private answer was logged above debug level: %s", line)
		}
	}
	rss, err := b.srv.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("secondary peak RSS %d MiB", rss>>20)
	if rss > hostilePeakRSSBound {
		t.Errorf("secondary peak RSS %d MiB, want at most %d MiB", rss>>20, hostilePeakRSSBound>>20)
	}

	// Nothing above spent the token: the cluster joins with it now.
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": token}); err != nil {
		t.Fatalf("enable with the token after the hostile requests: %v", err)
	}
	waitInSync(t, a, b)
}

// assertHealthyDisabled checks that c still answers and is still disabled.
func assertHealthyDisabled(t *testing.T, c *cluster) {
	t.Helper()
	if code, body := ctlCall(t, c, http.MethodGet, "/v1/sys/health", "", ""); code != http.StatusOK {
		t.Fatalf("%s: health %d %s", c.name, code, body)
	}
	if st := rawStatus(t, c); st["mode"] != "disabled" {
		t.Fatalf("%s: mode %v after a refused enable", c.name, st["mode"])
	}
}

// expiredLookingToken re-encodes token's claims with exp in the past; its
// signature no longer matches, which the secondary cannot check, but the
// expiry it can.
func expiredLookingToken(t *testing.T, token string) string {
	t.Helper()
	claims := jwtClaims(t, token)
	claims["exp"] = time.Now().Add(-time.Hour).Unix()
	raw, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}

// TestOperationTokenDiesWithItsRole: a DR operation token generated on a
// secondary authorises that secondary's disable, and then nothing: after
// enable as primary (a new DR set) and demote, promote with it is refused,
// although the cluster is a secondary again.
func TestOperationTokenDiesWithItsRole(t *testing.T) {
	a, b := setupPair(t, "")
	op := b.drOperationToken(a.keys)

	code, body := ctlCall(t, b, http.MethodPut, "/v1/"+pDisableSec, "", mustJSON(map[string]any{"dr_operation_token": op}))
	if code/100 != 2 {
		t.Fatalf("disable with the operation token: %d %s", code, body)
	}
	// B keeps A's replicated data, so A's root token works on it.
	if _, err := b.client(a.root).Logical().Write(pEnablePrimary, nil); err != nil {
		t.Fatalf("enable B as primary: %v", err)
	}
	if _, err := b.client(a.root).Logical().Write(pDemote, nil); err != nil {
		t.Fatalf("demote B: %v", err)
	}
	if st := rawStatus(t, b); st["mode"] != "secondary" {
		t.Fatalf("B after demote: mode %v", st["mode"])
	}
	code, body = ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": op}))
	wantAPIError(t, "promote with the token of the old DR set", code, body, http.StatusForbidden, "dr_operation_token")
	if strings.Contains(body, op) {
		t.Errorf("answer echoes the operation token: %s", body)
	}
	if st := rawStatus(t, b); st["mode"] != "secondary" {
		t.Fatalf("B after the refused promote: mode %v", st["mode"])
	}
	// A token generated now, in the current role, works.
	fresh := b.drOperationToken(a.keys)
	code, body = ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": fresh}))
	if code/100 != 2 {
		t.Fatalf("promote with a fresh operation token: %d %s", code, body)
	}
}

// TestMalformedSharesKeepProgress: on a live secondary, a wrong-length or
// malformed key share sent to generate-operation-token/update, and one sent
// to sys/unseal on a sealed cluster, is a 400 that leaves the progress as
// it was; the attempts then complete with correct shares.
func TestMalformedSharesKeepProgress(t *testing.T) {
	a, b := setupPair(t, "")
	st, err := b.client("").Sys().GenerateDROperationTokenInit("", "")
	if err != nil {
		t.Fatal(err)
	}
	nonce := st.Nonce
	if _, err := b.client("").Sys().GenerateDROperationTokenUpdate(a.keys[0], nonce); err != nil {
		t.Fatal(err)
	}
	good, err := hex.DecodeString(a.keys[1])
	if err != nil {
		t.Fatal(err)
	}
	first, err := hex.DecodeString(a.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	malformed := map[string]string{
		"one byte short":            hex.EncodeToString(good[:len(good)-1]),
		"one byte long":             hex.EncodeToString(append(good, 1)),
		"x-coordinate 0":            hex.EncodeToString(append(append([]byte{}, good[:len(good)-1]...), 0)),
		"x-coordinate of share one": hex.EncodeToString(append(append([]byte{}, good[:len(good)-1]...), first[len(first)-1])),
		"neither hex nor base64":    "%%%not-a-share%%%",
		"4 KiB long":                strings.Repeat("ab", 4096),
	}
	for name, key := range malformed {
		code, body := ctlCall(t, b, http.MethodPut, "/v1/sys/replication/dr/secondary/generate-operation-token/update", "", mustJSON(map[string]any{"key": key, "nonce": nonce}))
		wantAPIError(t, "op-token update with a share "+name, code, body, http.StatusBadRequest)
		code, body = ctlCall(t, b, http.MethodGet, "/v1/sys/replication/dr/secondary/generate-operation-token/attempt", "", "")
		var att struct {
			Started  bool   `json:"started"`
			Nonce    string `json:"nonce"`
			Progress int    `json:"progress"`
		}
		if err := json.Unmarshal([]byte(body), &att); err != nil || code != http.StatusOK {
			t.Fatalf("attempt status: %d %s", code, body)
		}
		if !att.Started || att.Nonce != nonce || att.Progress != 1 {
			t.Fatalf("after a share %s: attempt %+v, want progress 1 of nonce %s", name, att, nonce)
		}
	}
	for _, k := range a.keys[1:3] {
		if st, err = b.client("").Sys().GenerateDROperationTokenUpdate(k, nonce); err != nil {
			t.Fatalf("update with a correct share: %v", err)
		}
	}
	if !st.Complete {
		t.Fatalf("attempt did not complete after the refusals: %+v", st)
	}

	// sys/unseal on A after a seal: same rule.
	if err := a.rootClient().Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.client("").Sys().Unseal(a.keys[0]); err != nil {
		t.Fatal(err)
	}
	for name, key := range malformed {
		code, body := ctlCall(t, a, http.MethodPut, "/v1/sys/unseal", "", mustJSON(map[string]any{"key": key}))
		wantAPIError(t, "unseal with a share "+name, code, body, http.StatusBadRequest)
		ss, err := a.client("").Sys().SealStatus()
		if err != nil {
			t.Fatal(err)
		}
		if !ss.Sealed || ss.Progress != 1 {
			t.Fatalf("after an unseal share %s: sealed %v progress %d, want sealed with progress 1", name, ss.Sealed, ss.Progress)
		}
	}
	a.unseal(a.keys[1:])
	waitInSync(t, a, b)
}

// TestOperationTokenDiesOnUpdatePrimary: re-pointing a secondary, even
// within its DR set, voids the operation token that authorised it.
func TestOperationTokenDiesOnUpdatePrimary(t *testing.T) {
	a, b := setupPair(t, "")
	op := b.drOperationToken(a.keys)
	// A re-admits B under a new id; B follows it, authorised by op.
	token := a.secondaryToken(a.root, "b2", nil)
	code, body := ctlCall(t, b, http.MethodPut, "/v1/"+pUpdatePrimary, "", mustJSON(map[string]any{"token": token, "dr_operation_token": op}))
	if code/100 != 2 {
		t.Fatalf("update-primary with the operation token: %d %s", code, body)
	}
	waitInSync(t, a, b)
	code, body = ctlCall(t, b, http.MethodPut, "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": op}))
	wantAPIError(t, "promote with the token used for update-primary", code, body, http.StatusForbidden, "dr_operation_token")
	if st := rawStatus(t, b); st["mode"] != "secondary" || st["secondary_id"] != "b2" {
		t.Fatalf("B after the refused promote: mode %v id %v", st["mode"], st["secondary_id"])
	}
	waitInSync(t, a, b)
}
