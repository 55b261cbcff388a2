package drtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
)

// encodings are the forms a canary is searched in: as it is, hex, and
// base64 at each of the three alignments a longer encoded text could put
// it in (the edge characters, which depend on neighbours, are dropped).
func encodings(canary string) map[string][]byte {
	out := map[string][]byte{
		"plain":     []byte(canary),
		"hex":       []byte(hex.EncodeToString([]byte(canary))),
		"HEX":       []byte(strings.ToUpper(hex.EncodeToString([]byte(canary)))),
		"base64url": []byte(base64.RawURLEncoding.EncodeToString([]byte(canary))),
	}
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte{0}, pad), canary...))
		out["base64@"+string(rune('0'+pad))] = []byte(enc[4 : len(enc)-4])
	}
	return out
}

// scanStored reports each canary (by name) found anywhere in what a
// stopped server keeps at rest, in any encoding: its SQLite files, or its
// PostgreSQL rows and relation files (testserver's StoredBytes).
func scanStored(t *testing.T, srv *testserver.Server, canaries map[string]string) []string {
	t.Helper()
	blobs := srv.StoredBytes(t)
	var n int
	for _, b := range blobs {
		n += len(b.Bytes)
	}
	t.Logf("scanned %d KiB in %d pieces (%s)", n>>10, len(blobs), testserver.StorageEngine())
	return scanBlobs(blobs, canaries)
}

func scanBlobs(blobs []testserver.StoredBlob, canaries map[string]string) []string {
	var found []string
	for _, blob := range blobs {
		for name, c := range canaries {
			for enc, b := range encodings(c) {
				if bytes.Contains(blob.Bytes, b) {
					found = append(found, name+" ("+enc+") in "+blob.Where)
				}
			}
		}
	}
	return found
}

// TestBarrierCanaries (acceptance 1): a KV value, a policy body, a token id
// and a wrapped activation token written on a primary with a DR secondary
// never appear in any byte of either cluster's database, -wal or -shm file
// (on PostgreSQL: in any row or relation file of its database).
// A path, which the barrier leaves readable by design, does: the scan
// would see a canary.
func TestBarrierCanaries(t *testing.T) {
	a, b := setupPair(t, "")
	rnd := func(prefix string) string {
		id, err := randid.UUID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return prefix + strings.ReplaceAll(id, "-", "")
	}
	canaries := map[string]string{
		"kv value":    rnd("kvcanary"),
		"policy body": rnd("policycanary"),
		"token id":    rnd("tokcanary"),
	}
	pathCanary := rnd("pathcanary")
	a.write(a.root, "secret/"+pathCanary, map[string]any{"v": canaries["kv value"]})
	policy := `path "secret/` + canaries["policy body"] + `" { capabilities = ["read"] }`
	if err := a.rootClient().Sys().PutPolicy("canary", policy); err != nil {
		t.Fatal(err)
	}
	if _, err := a.rootClient().Auth().Token().Create(&vaultapi.TokenCreateRequest{ID: canaries["token id"], Policies: []string{"canary"}}); err != nil {
		t.Fatal(err)
	}
	canaries["wrapped activation token"] = a.secondaryToken(a.root, "c", nil)
	waitInSync(t, a, b)

	// What was written reads back on both sides, through the barrier.
	if got := readSecretV(t, a, canaries["token id"], "secret/"+canaries["policy body"]); got != "" {
		t.Fatalf("unexpected secret %q", got)
	}
	if got := readSecretV(t, a, a.root, "secret/"+pathCanary); got != canaries["kv value"] {
		t.Fatalf("primary reads %q", got)
	}
	for _, c := range []*cluster{a, b} {
		if err := c.srv.Stop(); err != nil {
			t.Fatalf("%s: stop: %v", c.name, err)
		}
	}
	for _, c := range []*cluster{a, b} {
		if found := scanStored(t, c.srv, canaries); len(found) > 0 {
			t.Errorf("%s: canaries at rest:\n%s", c.name, strings.Join(found, "\n"))
		}
		checkDRKeysSealed(t, c.name, c.srv)
		// Both halves of the scan see the path: the files (SQLite's, or
		// PostgreSQL's relation files) and, on PostgreSQL, the rows.
		found := scanStored(t, c.srv, map[string]string{"path": pathCanary})
		inFile := slices.ContainsFunc(found, func(f string) bool { return strings.Contains(f, " in /") })
		inRow := slices.ContainsFunc(found, func(f string) bool { return strings.Contains(f, " row ") })
		if !inFile || (c.srv.Postgres != nil && !inRow) {
			t.Errorf("%s: the scan does not even find the secret's path, which is stored readable: %v", c.name, found)
		}
	}
	// The secondary holds the data and opens it with the primary's shares.
	b.srv.Restart()
	b.unseal(a.keys)
	tok := b.drOperationToken(a.keys)
	if code, resp := ctlCall(t, b, "PUT", "/v1/"+pPromote, "", mustJSON(map[string]any{"dr_operation_token": tok})); code != 200 && code != 204 {
		t.Fatalf("promote: %d %s", code, resp)
	}
	if got := readSecretV(t, b, a.root, "secret/"+pathCanary); got != canaries["kv value"] {
		t.Fatalf("promoted secondary reads %q", got)
	}
}
