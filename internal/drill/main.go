// Command drill is `make drill`: a failover drill with evidence. It starts
// a local DR pair (two single-node clusters, the real binaries), runs a
// bounded write load with an acknowledgement ledger, SIGKILLs the primary,
// promotes the secondary through the provider (terraform apply of the
// module in terraform/promote), verifies every acknowledged write on the
// new primary, re-points the old primary, and writes a report: report.html
// (self-contained, SVG timeline), report.md and results.json.
//
// It needs the binaries in ./bin (make build) and a terraform on PATH (the
// GNUmakefile's terraform target ensures one). It stops what it started.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// drillLimit bounds the whole drill.
const drillLimit = 110 * time.Second

func main() {
	out := flag.String("out", "drill-report", "folder for report.html, report.md and results.json")
	bin := flag.String("bin", "bin", "folder with vaultrepl-server and terraform-provider-vaultrepl")
	steady := flag.Duration("load", 3*time.Second, "steady write load before the primary's site is lost")
	silence := flag.Duration("partition", 500*time.Millisecond, "how long the primary keeps taking writes after its link to the secondary is cut, before it is killed")
	writers := flag.Int("writers", 4, "concurrent writers")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, drillLimit)
	defer cancel()
	res, err := run(ctx, options{out: *out, bin: *bin, steady: *steady, partition: *silence, writers: *writers})
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndrill failed: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nreport: %s (and report.md, results.json)\n", filepath.Join(*out, "report.html"))
	fmt.Printf("RTO %.3fs (measured by the drill %.3fs)  RPO %d entries known, %.3fs, %d writes discarded  checked %d  missing %d (outside the recovery point: %d)\n",
		res.RTOSeconds, res.RTOMeasuredSeconds, res.RPOEntries, res.RPOSeconds, res.DiscardedWrites, res.WritesChecked, res.Missing, res.MissingOutsideRPO)
	if res.MissingOutsideRPO != 0 {
		fmt.Fprintln(os.Stderr, "drill failed: acknowledged writes are missing outside the recovery point")
		os.Exit(1)
	}
}

type options struct {
	out, bin          string
	steady, partition time.Duration
	writers           int
}

const heartbeat = 100 * time.Millisecond

func run(ctx context.Context, o options) (*results, error) {
	start := time.Now()
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "vaultrepl-drill-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(work) }()

	step("starting two clusters (dev mode, SQLite)")
	a, err := startDev(ctx, bin, work, "A", heartbeat)
	if err != nil {
		return nil, err
	}
	defer a.kill()
	b, err := startDev(ctx, bin, work, "B", heartbeat)
	if err != nil {
		return nil, err
	}
	defer b.kill()
	step("A becomes the DR primary, B its secondary (over a cluster link the drill can cut)")
	lnk, err := startLink(fmt.Sprintf("127.0.0.1:%d", a.cport))
	if err != nil {
		return nil, err
	}
	defer lnk.close()
	if err := pair(ctx, a, b, lnk.addr()); err != nil {
		return nil, err
	}

	l := startLoad(ctx, o.writers, 50_000, a)
	defer l.stop()
	s := startSampler(ctx, start, l, b)
	defer s.stop()
	if err := sleepCtx(ctx, o.steady); err != nil {
		return nil, err
	}
	// The primary's site is lost: first its network (it keeps taking
	// writes that can no longer replicate), then its servers.
	s.setPhase("link to the primary cut")
	cutAt := time.Now()
	lnk.sever()
	if err := sleepCtx(ctx, o.partition); err != nil {
		return nil, err
	}
	s.setPhase("primary killed (SIGKILL)")
	killAt := time.Now()
	a.kill()

	s.setPhase("terraform apply: promote B")
	tf, err := newTerraform(work, bin)
	if err != nil {
		return nil, err
	}
	if err := tf.applyPromote(ctx, b.addr, a.unsealKey); err != nil {
		return nil, err
	}
	l.target.Store(b)
	s.setPhase("load on the new primary")
	rec, err := waitFirstWrite(ctx, b)
	if err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return nil, err
	}
	l.stop()
	s.setPhase("terraform refresh: evidence")
	outputs, err := tf.refreshOutputs(ctx, b.addr, a.unsealKey)
	if err != nil {
		return nil, err
	}

	s.setPhase("verifying the ledger on B")
	keysB, err := listKeys(ctx, b)
	if err != nil {
		return nil, err
	}
	s.setPhase("restarting and re-pointing A")
	keysA, err := restartOld(ctx, a)
	if err != nil {
		return nil, err
	}
	// Writes A holds and B lacks are what re-pointing discards. Without
	// any, A's position is in B's history and it simply streams on.
	lost := 0
	for k := range keysA {
		if !keysB[k] {
			lost++
		}
	}
	discard, err := repoint(ctx, a, b, lost > 0)
	if err != nil {
		return nil, err
	}
	if lost > 0 {
		if rec, err = waitDiscardReported(ctx, b, rec.ID); err != nil {
			return nil, err
		}
	}
	samples := s.stop()
	res := evaluate(evidence{
		start: start, cutAt: cutAt, killAt: killAt, record: rec, discard: discard, ledger: l.acks(),
		keysA: keysA, keysB: keysB, samples: samples, outputs: outputs,
	})
	res.DurationSeconds = time.Since(start).Seconds()
	if err := writeReport(o.out, res); err != nil {
		return nil, err
	}
	return res, nil
}

func step(msg string) { fmt.Fprintf(os.Stderr, "==> %s\n", msg) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// waitFor polls cond until it holds or limit passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, detail := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not true after %s: %s", what, limit, detail)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func anon(addr string) *client.Client { return mustClient(addr, "") }

func root(addr string) *client.Client { return mustClient(addr, "root") }

func mustClient(addr, token string) *client.Client {
	c, err := client.New(client.Config{Address: addr, Token: token, Timeout: 10 * time.Second})
	if err != nil {
		panic(err) // only a malformed address fails, and ours are built here
	}
	return c
}

// pair makes a the primary and b its secondary, and waits until b streams.
func pair(ctx context.Context, a, b *cluster, clusterAddr string) error {
	if _, err := root(a.addr).EnablePrimary(ctx, clusterAddr); err != nil {
		return fmt.Errorf("enable primary: %w", err)
	}
	tok, _, err := root(a.addr).SecondaryToken(ctx, "b", "", "")
	if err != nil {
		return fmt.Errorf("secondary token: %w", err)
	}
	if _, err := root(b.addr).EnableSecondary(ctx, client.Activation{Token: tok}); err != nil {
		return fmt.Errorf("enable secondary: %w", err)
	}
	return waitInSync(ctx, a, b)
}

func waitInSync(ctx context.Context, p, s *cluster) error {
	return waitFor(ctx, 30*time.Second, s.name+" in sync with "+p.name, func() (bool, string) {
		ps, err1 := anon(p.addr).DRStatus(ctx)
		ss, err2 := anon(s.addr).DRStatus(ctx)
		if err := errors.Join(err1, err2); err != nil {
			return false, err.Error()
		}
		return ss.State == client.StateStreamWALs && ss.MerkleRoot == ps.MerkleRoot, "state " + ss.State
	})
}

// waitFirstWrite waits until b's failover record has its first write.
func waitFirstWrite(ctx context.Context, b *cluster) (client.FailoverRecord, error) {
	var rec client.FailoverRecord
	err := waitFor(ctx, 20*time.Second, "B records its first write after the promotion", func() (bool, string) {
		h, err := root(b.addr).FailoverHistory(ctx)
		if err != nil || len(h.Failovers) == 0 {
			return false, fmt.Sprint(err)
		}
		rec = h.Failovers[0]
		return rec.RecoveryTimeSeconds != nil, "no first write yet"
	})
	return rec, err
}

func waitDiscardReported(ctx context.Context, b *cluster, id string) (client.FailoverRecord, error) {
	var rec client.FailoverRecord
	err := waitFor(ctx, 20*time.Second, "B learns what A discarded", func() (bool, string) {
		h, err := root(b.addr).FailoverHistory(ctx)
		if err != nil {
			return false, err.Error()
		}
		if r := h.Find(id); r != nil {
			rec = *r
		}
		return rec.Discarded != nil, "not yet"
	})
	return rec, err
}

// listKeys lists the load's keys on c.
func listKeys(ctx context.Context, c *cluster) (map[string]bool, error) {
	var out struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	if err := getJSON(ctx, c.addr+"/v1/"+loadPrefix+"?list=true", &out); err != nil {
		return nil, fmt.Errorf("list %s on %s: %w", loadPrefix, c.name, err)
	}
	keys := make(map[string]bool, len(out.Data.Keys))
	for _, k := range out.Data.Keys {
		keys[k] = true
	}
	return keys, nil
}

// restartOld restarts the old primary and lists what it holds.
func restartOld(ctx context.Context, a *cluster) (map[string]bool, error) {
	if err := a.restart(ctx, heartbeat); err != nil {
		return nil, err
	}
	if _, err := anon(a.addr).Unseal(ctx, a.unsealKey); err != nil {
		return nil, fmt.Errorf("unseal A: %w", err)
	}
	return listKeys(ctx, a)
}

// repoint demotes the old primary and points it at b; with discards
// expected it waits for a's record of them.
func repoint(ctx context.Context, a, b *cluster, discards bool) (*client.DiscardRecord, error) {
	if _, err := root(a.addr).DemotePrimary(ctx); err != nil {
		return nil, fmt.Errorf("demote A: %w", err)
	}
	tok, _, err := root(b.addr).SecondaryToken(ctx, "a", "", "")
	if err != nil {
		return nil, fmt.Errorf("secondary token for A: %w", err)
	}
	op, err := anon(a.addr).GenerateDROperationToken(ctx, []string{a.unsealKey})
	if err != nil {
		return nil, fmt.Errorf("DR operation token on A: %w", err)
	}
	if _, err := anon(a.addr).UpdatePrimary(ctx, op, client.Activation{Token: tok}); err != nil {
		return nil, fmt.Errorf("update-primary on A: %w", err)
	}
	if err := waitInSync(ctx, b, a); err != nil {
		return nil, err
	}
	if !discards {
		return nil, nil
	}
	var d *client.DiscardRecord
	err = waitFor(ctx, 20*time.Second, "A records what it discarded", func() (bool, string) {
		h, err := root(a.addr).FailoverHistory(ctx)
		if err != nil {
			return false, err.Error()
		}
		if len(h.Discarded) > 0 {
			d = &h.Discarded[0]
		}
		return d != nil, "no discard record"
	})
	return d, err
}

// getJSON reads url with the root token and decodes the answer into out.
func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", "root")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}
