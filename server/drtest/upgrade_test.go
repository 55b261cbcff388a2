package drtest

import (
	"compress/gzip"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/barrier"
)

// upgradeFixture is testdata/upgrade: a DR pair written by the release
// before the barrier (make-fixture.sh), with its keys and the canaries it
// holds in plain text.
type upgradeFixture struct {
	Keys      []string `json:"keys"`
	RootToken string   `json:"root_token"`
	Canaries  []string `json:"canaries"`
}

func loadUpgradeFixture(t *testing.T, dir string) (fx upgradeFixture, primaryDB, secondaryDB string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "upgrade", "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"primary", "secondary"} {
		in, err := os.Open(filepath.Join("testdata", "upgrade", name+".db.gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(in)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".db")
		out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, io.LimitReader(zr, 8<<20)); err != nil {
			t.Fatal(err)
		}
		_ = in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		if name == "primary" {
			primaryDB = path
		} else {
			secondaryDB = path
		}
	}
	return fx, primaryDB, secondaryDB
}

// countEncrypted counts the replicated values that are ciphertext and those
// that are not, straight from a stopped cluster's file.
func countEncrypted(t *testing.T, path string) (encrypted, plain int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	err = db.QueryRow(`SELECT count(*) FILTER (WHERE substr(value, 1, 1) = x'01'), count(*) FILTER (WHERE substr(value, 1, 1) != x'01') FROM kv WHERE key NOT IN ('core/seal-config', 'core/keyring')`).Scan(&encrypted, &plain)
	if err != nil {
		t.Fatal(err)
	}
	return encrypted, plain
}

// drState reads a stopped cluster's DR state, which is stored plain.
func drState(t *testing.T, srv *testserver.Server) map[string]any {
	t.Helper()
	raw, ok := srv.LocalValue(t, "replication/dr/state")
	if !ok {
		t.Fatal("no DR state stored")
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// checkDRKeysSealed fails unless the DR state keeps its CA, wrapping and
// exchange keys only sealed.
func checkDRKeysSealed(t *testing.T, name string, srv *testserver.Server) {
	t.Helper()
	st := drState(t, srv)
	for _, k := range []string{"ca_key", "wrapping_key", "exchange_key"} {
		if _, ok := st[k]; ok {
			t.Errorf("%s: the DR state holds %s in plain text", name, k)
		}
	}
}

// pointSecondaryAt rewrites a stopped secondary's DR state (stored plain)
// to follow a primary listening on a new loopback port.
func pointSecondaryAt(t *testing.T, path, clusterAddr string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var raw []byte
	if err := db.QueryRow(`SELECT value FROM local WHERE key = 'replication/dr/state'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	st["primary_cluster_addr"] = "https://" + clusterAddr
	st["known_primary_cluster_addrs"] = []string{"https://" + clusterAddr}
	if raw, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE local SET value = ? WHERE key = 'replication/dr/state'`, raw); err != nil {
		t.Fatal(err)
	}
}

// TestBarrierUpgradeOldDatabase (acceptance 4): a DR pair written by the
// release before the barrier is encrypted in place on the primary's first
// unseal, which a SIGKILL interrupts half-way; the next start resumes it.
// The secondary follows, unseals with the primary's shares once the
// encrypted data has reached it, and the pair converges with no canary
// left in either cluster's files.
func TestBarrierUpgradeOldDatabase(t *testing.T) {
	if e := testserver.StorageEngine(); e != testserver.EngineSQLite {
		t.Skip("the fixture is a SQLite database of the release before the barrier, older than PostgreSQL storage: nothing to upgrade on " + e)
	}
	fx, pdb, sdb := loadUpgradeFixture(t, t.TempDir())
	plain := map[string]string{"kv": fx.Canaries[0], "policy": fx.Canaries[1]}
	fixture := &testserver.Server{DB: pdb} // not started: only its files are read
	if found := scanStored(t, fixture, plain); len(found) < 2 {
		t.Fatalf("the fixture should hold its canaries in plain text, found %v", found)
	}
	legacy := drState(t, fixture)
	drKeys := map[string]string{}
	for _, k := range []string{"ca_key", "wrapping_key"} {
		v, _ := legacy[k].(string)
		if v == "" {
			t.Fatalf("the fixture's primary has no plain %s", k)
		}
		drKeys[k] = v
	}
	hb := []string{"-heartbeat-interval", "200ms"}
	srvA := testserver.Start(t, builder.Binary(t), testserver.Options{DB: pdb, Args: hb, Env: []string{barrier.KillAfterEnv + "=40"}})
	a := &cluster{t: t, name: "A", srv: srvA, root: fx.RootToken, keys: fx.Keys}
	for _, k := range fx.Keys[:3] {
		_, _ = a.client("").Sys().Unseal(k) // the last one never answers: the process kills itself
	}
	// The output reaches the test through a pipe: wait for the hook's line
	// (WaitOutput fails the test if the process exits without it).
	srvA.WaitOutput("killing the process in the middle of the upgrade", 30*time.Second)
	srvA.Kill() // reaps the process that killed itself
	enc, pl := countEncrypted(t, pdb)
	if enc == 0 || pl == 0 {
		t.Fatalf("after the kill: %d values encrypted, %d plain; want the upgrade half-way", enc, pl)
	}
	t.Logf("killed half-way: %d values encrypted, %d still plain", enc, pl)

	srvA.Env = nil
	srvA.Restart()
	a.unseal(fx.Keys)
	if got := readSecretV(t, a, fx.RootToken, "secret/fixture"); got != fx.Canaries[0] {
		t.Fatalf("after the upgrade the secret reads %q", got)
	}
	if _, err := a.client(fx.Canaries[2]).Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("the old token after the upgrade: %v", err)
	}
	pol, err := a.rootClient().Sys().GetPolicy("fixture")
	if err != nil || !strings.Contains(pol, fx.Canaries[1]) {
		t.Fatalf("the old policy after the upgrade: %q, %v", pol, err)
	}

	pointSecondaryAt(t, sdb, srvA.Cluster)
	srvB := testserver.Start(t, builder.Binary(t), testserver.Options{DB: sdb, Args: hb})
	b := &cluster{t: t, name: "B", srv: srvB, root: fx.RootToken, keys: fx.Keys}
	eventually(t, "the secondary unseals once the encrypted data reached it", 30*time.Second, func() (bool, string) {
		sys := b.client("").Sys()
		var last error
		for _, k := range fx.Keys[:3] {
			if _, err := sys.Unseal(k); err != nil {
				last = err
			}
		}
		st, err := sys.SealStatus()
		if err != nil || st.Sealed {
			_, _ = sys.ResetUnsealProcess()
			return false, "still sealed: " + errString(last)
		}
		return true, ""
	})
	waitInSync(t, a, b)
	for _, c := range []*cluster{a, b} {
		if err := c.srv.Stop(); err != nil {
			t.Fatalf("%s: stop: %v", c.name, err)
		}
	}
	all := map[string]string{"kv": fx.Canaries[0], "policy": fx.Canaries[1], "token": fx.Canaries[2], "DR CA key": drKeys["ca_key"], "wrapping key": drKeys["wrapping_key"]}
	checkDRKeysSealed(t, "A", a.srv)
	if st := drState(t, a.srv); st["sealed_secrets"] == nil {
		t.Errorf("A: the DR state has no sealed keys")
	}
	for _, c := range []*cluster{a, b} {
		if found := scanStored(t, c.srv, all); len(found) > 0 {
			t.Errorf("%s: canaries left after the upgrade:\n%s", c.name, strings.Join(found, "\n"))
		}
		if enc, pl := countEncrypted(t, c.srv.DB); pl != 0 {
			t.Errorf("%s: %d values still plain (%d encrypted)", c.name, pl, enc)
		}
	}
	b.srv.Restart()
	b.unseal(fx.Keys)
	promote(t, b, fx.Keys)
	if got := readSecretV(t, b, fx.RootToken, "secret/fixture"); got != fx.Canaries[0] {
		t.Fatalf("promoted secondary reads %q", got)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
