package drtest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// TestRetentionForcesMerkleSync: a primary keeps only -wal-retain-count
// entries; a secondary that was down while more were written comes back,
// finds its position trimmed, merkle-syncs and converges.
func TestRetentionForcesMerkleSync(t *testing.T) {
	a := startClusterWith(t, "A", "-wal-retain-count", "20")
	b := startCluster(t, "B")
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/enable", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	token := a.secondaryToken(a.root, "b", nil)
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": token}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, a, b)
	// A's log reaches the test through a pipe that may lag behind the
	// server (a loaded machine): wait for the new secondary's first sync.
	syncLogged := func(want int) {
		t.Helper()
		eventually(t, "the primary logs the merkle sync", 15*time.Second, func() (bool, string) {
			n := countLines(a.srv.Output(), "secondary needs a merkle sync")
			return n == want, fmt.Sprintf("%d merkle syncs logged, want %d", n, want)
		})
	}
	syncLogged(1)
	syncsBefore := 1

	seen := b.status().LastRemoteWAL
	b.srv.Kill()
	for i := range 120 {
		a.write(a.root, fmt.Sprintf("secret/retention/%d", i), map[string]any{"v": i})
	}
	// Trimming runs every 5 heartbeats (1 s here): wait until the primary
	// logged that it dropped entries the secondary had not seen (an earlier
	// trim, of entries it had, does not count).
	eventually(t, "primary trims its WAL past the secondary", 15*time.Second, func() (bool, string) {
		upTo := maxTrimmedUpTo(a.srv.Output())
		return upTo > seen, fmt.Sprintf("trimmed up to %d, secondary had %d", upTo, seen)
	})
	b.srv.Restart()
	b.unseal(a.keys)
	waitInSync(t, a, b)
	syncLogged(syncsBefore + 1) // exactly one more: the trimmed WAL cannot serve B
	if !strings.Contains(a.srv.Output(), "is no longer retained") {
		t.Fatal("the primary did not say why the secondary had to merkle-sync")
	}
}

// TestReindex rebuilds the merkle index: the root stays (the incremental
// index was right) and last_reindex_epoch moves to now.
func TestReindex(t *testing.T) {
	a := startCluster(t, "A")
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/enable", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	a.write(a.root, "secret/x", map[string]any{"v": 1})
	before := a.status()
	sec, err := a.rootClient().Logical().Write("sys/replication/reindex", map[string]any{})
	if err != nil || len(sec.Warnings) == 0 || !strings.Contains(sec.Warnings[0], "0 merkle buckets") {
		t.Fatalf("reindex: %v %+v", err, sec)
	}
	after := a.status()
	epoch, err := strconv.ParseInt(after.LastReindexEpoch, 10, 64)
	if err != nil || time.Since(time.Unix(epoch, 0)) > time.Minute {
		t.Fatalf("last_reindex_epoch %q is not about now", after.LastReindexEpoch)
	}
	if after.MerkleRoot != before.MerkleRoot || after.LastWAL != before.LastWAL {
		t.Fatalf("reindex changed root or WAL: %+v -> %+v", before, after)
	}
}

// startClusterWith is startCluster with extra server flags.
func startClusterWith(t *testing.T, name string, args ...string) *cluster {
	t.Helper()
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{Args: append([]string{"-heartbeat-interval", "200ms"}, args...)})
	return initCluster(t, name, srv)
}

// maxTrimmedUpTo is the highest up_to of the primary's "WAL trimmed" log
// lines (0 when none).
func maxTrimmedUpTo(out string) uint64 {
	var highest uint64
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `msg="WAL trimmed"`) {
			continue
		}
		_, after, ok := strings.Cut(line, " up_to=")
		if !ok {
			continue
		}
		field, _, _ := strings.Cut(after, " ")
		if n, err := strconv.ParseUint(field, 10, 64); err == nil && n > highest {
			highest = n
		}
	}
	return highest
}
