package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// The replication section measures DR replication between server
// processes on loopback, every node on its own SQLite file with FULL sync:
//
//	(a) lag from a write's 204 on the primary to its apply on a secondary,
//	    at the maximum rate and at half of it;
//	(b) primary write throughput with 0, 1 and 3 secondaries attached;
//	(c) bootstrap of a new secondary from a primary holding many keys,
//	    against a bulk insert of as many rows into a bare SQLite file;
//	(d) promote-to-first-accepted-write latency.
//
// All nodes share the machine's CPUs and disk, so secondaries compete with
// the primary they follow; on a real deployment they would not.

// Targets printed beside the figures. They are informational, like the
// headline: missing one does not change the exit code.
const (
	defaultBootstrapKeys   = 100000
	quickBootstrapKeys     = 10000
	promotionRuns          = 3
	catchUpLimit           = 60 * time.Second // secondaries catching up after a load
	bootstrapLimit         = 10 * time.Minute
	promotionWriteLimit    = 10 * time.Second // retrying the first write after promote
	promotionMaxWriteTries = 100000
	replClients            = headlineClients
)

// lagMethodLines explain how lag is measured; printed under the lag table
// and stored (joined) in the report.
var lagMethodLines = []string{
	"lag = (first time the secondary's database held the write's WAL index) - (time the client read the primary's 204).",
	"Each write's WAL index is exact: its key is unique and is looked up in the primary's WAL table after the run.",
	"Apply times come from this process reading the secondary's committed position (meta.last_wal) through a",
	"read-only SQLite connection every 200us and stamping each new value after the read: they err late by up to",
	"one poll, never early. Both stamps use this host's clock. A write applied before its 204 reached the client",
	"counts as 0 ms. Every server is its own process, all share this machine's CPUs and disk.",
}

// replReport is the section's part of the JSON report.
type replReport struct {
	LagMethod  string                 `json:"lag_method"`
	Lag        []replLagResult        `json:"lag"`
	Throughput []replThroughputResult `json:"throughput"`
	Bootstrap  *replBootstrapResult   `json:"bootstrap"`
	Promotion  *replPromotionResult   `json:"promotion"`
}

// replLagResult is one lag measurement: 1 secondary, replClients clients.
type replLagResult struct {
	Load                 string  `json:"load"`                // "max" or "half"
	TargetWritesPerS     float64 `json:"target_writes_per_s"` // offered rate; 0 = flat out
	Clients              int     `json:"clients"`
	Writes               int     `json:"writes"`
	WritesPerS           float64 `json:"writes_per_s"`
	Errors               int     `json:"errors"`
	LagSamples           int     `json:"lag_samples"`
	LagP50MS             float64 `json:"lag_p50_ms"`
	LagP99MS             float64 `json:"lag_p99_ms"`
	LagMaxMS             float64 `json:"lag_max_ms"`
	AppliedBeforeAck     int     `json:"applied_before_ack"`
	Unmapped             int     `json:"unmapped"`
	Unapplied            int     `json:"unapplied"`
	CatchUpMS            float64 `json:"catch_up_ms"` // end of load until the secondary held the primary's last index
	PrimaryCPUPerWriteUS float64 `json:"primary_cpu_per_write_us"`
}

// replThroughputResult is primary write throughput with some secondaries.
type replThroughputResult struct {
	Secondaries int     `json:"secondaries"`
	Clients     int     `json:"clients"`
	Writes      int     `json:"writes"`
	WritesPerS  float64 `json:"writes_per_s"`
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	Errors      int     `json:"errors"`
	RatioToNone float64 `json:"ratio_to_none"`
	CatchUpMS   float64 `json:"catch_up_ms"`
	// PrimaryCPUPerWriteUS is the primary process's CPU per acknowledged
	// write: what the secondaries cost it shows as the rise over none.
	PrimaryCPUPerWriteUS float64 `json:"primary_cpu_per_write_us"`
	// SecondaryCPUPerWriteUS is the first secondary's CPU over the same
	// window per write the primary acknowledged in it (0 with none): on a
	// shared machine that CPU is taken from the primary and the clients.
	SecondaryCPUPerWriteUS float64 `json:"secondary_cpu_per_write_us"`
}

// replBootstrapResult is the bootstrap of a fresh secondary.
type replBootstrapResult struct {
	Keys               int     `json:"keys"`
	LoadS              float64 `json:"load_s"` // writing the keys on the primary (not part of the bootstrap)
	BootstrapS         float64 `json:"bootstrap_s"`
	KeysPerS           float64 `json:"keys_per_s"`
	BulkInsertS        float64 `json:"bulk_insert_s"`
	BulkInsertKeysPerS float64 `json:"bulk_insert_keys_per_s"`
	Ratio              float64 `json:"ratio"`
}

// replPromotionResult is promote-to-first-write latency over fresh pairs.
type replPromotionResult struct {
	Runs     []promotionRun `json:"runs"`
	MinMS    float64        `json:"min_ms"`
	MedianMS float64        `json:"median_ms"`
}

type promotionRun struct {
	PromoteMS    float64 `json:"promote_ms"`     // the promote request's answer
	FirstWriteMS float64 `json:"first_write_ms"` // promote sent → first write's 204
	WriteTries   int     `json:"write_tries"`
}

func replicationSection() section {
	return section{
		id:    "replication",
		name:  "DR replication (server processes, FULL sync, heartbeat 200ms)",
		run:   runReplication,
		table: replicationTable,
	}
}

// runReplication runs (a) to (d). A part that cannot measure is reported
// and the others still run; the section then returns an error naming it.
func runReplication(ctx context.Context, o options, r *report) (int, error) {
	rr := &replReport{LagMethod: strings.Join(lagMethodLines, " "), Lag: []replLagResult{}, Throughput: []replThroughputResult{}}
	r.Replication = rr
	failures := 0
	var failed []string
	fail := func(part string, err error) {
		_, _ = fmt.Fprintf(o.stderr, "vaultrepl-bench: replication %s: %v\n", part, err)
		failed = append(failed, part)
	}

	// (a) lag at the maximum rate, then at half of the rate measured.
	if o.runsReplPart("lag") {
		full, err := measureReplLag(ctx, o, "max", 0)
		if err != nil {
			fail("lag at max rate", err)
		} else {
			rr.Lag = append(rr.Lag, full)
			failures += full.Errors + full.Unapplied
			half, err := measureReplLag(ctx, o, "half", full.WritesPerS/2)
			if err != nil {
				fail("lag at half rate", err)
			} else {
				rr.Lag = append(rr.Lag, half)
				failures += half.Errors + half.Unapplied
			}
		}
	}

	// (b) throughput with 0, 1 and 3 secondaries.
	for _, k := range []int{0, 1, 3} {
		if ctx.Err() != nil || !o.runsReplPart("throughput") {
			break
		}
		res, err := measureReplThroughput(ctx, o, k)
		if err != nil {
			fail(fmt.Sprintf("throughput with %d secondaries", k), err)
			continue
		}
		failures += res.Errors
		rr.Throughput = append(rr.Throughput, res)
	}
	var none float64
	for _, t := range rr.Throughput {
		if t.Secondaries == 0 {
			none = t.WritesPerS
		}
	}
	for i := range rr.Throughput {
		if none > 0 {
			rr.Throughput[i].RatioToNone = rr.Throughput[i].WritesPerS / none
		}
	}

	// (c) bootstrap.
	if ctx.Err() == nil && o.runsReplPart("bootstrap") {
		if res, err := measureBootstrap(ctx, o); err != nil {
			fail("bootstrap", err)
		} else {
			rr.Bootstrap = &res
		}
	}

	// (d) promotion.
	if ctx.Err() == nil && o.runsReplPart("promotion") {
		if res, err := measurePromotion(ctx, o); err != nil {
			fail("promotion", err)
		} else {
			rr.Promotion = &res
		}
	}

	if err := ctx.Err(); err != nil {
		return failures, err
	}
	if len(failed) > 0 {
		return failures, fmt.Errorf("could not measure: %s", strings.Join(failed, "; "))
	}
	return failures, nil
}

// measureReplLag runs a write load on a primary with one converged
// secondary and matches each acknowledged write with its apply there.
// rate 0 is flat out.
func measureReplLag(ctx context.Context, o options, load string, rate float64) (res replLagResult, err error) {
	c, err := newReplCluster(ctx, o)
	if err != nil {
		return res, err
	}
	defer func() {
		if cErr := c.close(ctx); cErr != nil && err == nil {
			err = cErr
		}
	}()
	if err := c.addSecondaries(ctx, 1); err != nil {
		return res, err
	}
	return measureLagOn(ctx, o, c, replRootToken, "replication lag at "+load+" rate", load, rate)
}

// measureLagOn runs replClients clients writing to c's primary (token
// token) at rate (0 = flat out) and matches each acknowledged write with
// its apply on c's first secondary, which must be in sync.
func measureLagOn(ctx context.Context, o options, c *replCluster, token, label, load string, rate float64) (res replLagResult, err error) {
	pdb, err := c.db(c.primary)
	if err != nil {
		return res, err
	}
	sdb, err := c.db(c.secondaries[0])
	if err != nil {
		return res, err
	}
	base, err := pdb.lastWAL(ctx)
	if err != nil {
		return res, err
	}
	log := startApplyLog(ctx, sdb)
	l, err := runLoad(ctx, o, loadSpec{
		apiAddr: c.primary.apiAddr, token: token, prefix: "secret/bench/",
		clients: replClients, duration: o.duration, rate: rate, pid: c.primary.cmd.Process.Pid,
		label: label,
	})
	catchUp, cuErr := c.caughtUp(ctx, catchUpLimit)
	logErr := log.finish()
	if err != nil {
		return res, err
	}
	if logErr != nil {
		return res, fmt.Errorf("follow the secondary's position: %w", logErr)
	}
	if cuErr != nil {
		// Measured, not fatal: the writes not applied are counted.
		_, _ = fmt.Fprintf(o.stderr, "vaultrepl-bench: %s: secondary did not catch up: %v\n", label, cuErr)
	}
	idx, err := pdb.benchWALIndexes(ctx, base, l.acks)
	if err != nil {
		return res, err
	}
	s := matchLags(l, idx, log)
	res = replLagResult{
		Load:                 load,
		TargetWritesPerS:     rate,
		Clients:              replClients,
		Writes:               l.writes(),
		WritesPerS:           float64(l.writes()) / l.elapsed.Seconds(),
		Errors:               l.errors,
		LagSamples:           len(s.lags),
		LagP50MS:             ms(percentile(s.lags, 50)),
		LagP99MS:             ms(percentile(s.lags, 99)),
		LagMaxMS:             ms(percentile(s.lags, 100)),
		AppliedBeforeAck:     s.beforeAck,
		Unmapped:             s.unmapped,
		Unapplied:            s.unapplied,
		CatchUpMS:            ms(catchUp),
		PrimaryCPUPerWriteUS: cpuPerWrite(l),
	}
	return res, nil
}

// measureReplThroughput runs replClients flat-out clients on a DR primary
// with k converged secondaries. With k = 0 the cluster is still a DR
// primary, so the rows differ only in the secondaries attached.
func measureReplThroughput(ctx context.Context, o options, k int) (res replThroughputResult, err error) {
	c, err := newReplCluster(ctx, o)
	if err != nil {
		return res, err
	}
	defer func() {
		if cErr := c.close(ctx); cErr != nil && err == nil {
			err = cErr
		}
	}()
	if err := c.addSecondaries(ctx, k); err != nil {
		return res, err
	}
	spec := loadSpec{
		apiAddr: c.primary.apiAddr, token: replRootToken, prefix: "secret/bench/",
		clients: replClients, duration: o.duration, pid: c.primary.cmd.Process.Pid,
		label: fmt.Sprintf("replication throughput with %d secondaries", k),
	}
	if k > 0 {
		spec.peerPid = c.secondaries[0].cmd.Process.Pid
	}
	l, err := runLoad(ctx, o, spec)
	if err != nil {
		return res, err
	}
	catchUp, err := c.caughtUp(ctx, catchUpLimit)
	if err != nil {
		return res, fmt.Errorf("secondaries did not catch up after the load: %w", err)
	}
	return replThroughputResult{
		Secondaries:            k,
		Clients:                replClients,
		Writes:                 l.writes(),
		WritesPerS:             float64(l.writes()) / l.elapsed.Seconds(),
		P50MS:                  ms(percentile(l.latencies, 50)),
		P99MS:                  ms(percentile(l.latencies, 99)),
		Errors:                 l.errors,
		CatchUpMS:              ms(catchUp),
		PrimaryCPUPerWriteUS:   cpuPerWrite(l),
		SecondaryCPUPerWriteUS: perWriteUS(l.peerCPU, l.writes()),
	}, nil
}

// perWriteUS is cpu per write in µs (0 without writes).
func perWriteUS(cpu time.Duration, writes int) float64 {
	if writes == 0 {
		return 0
	}
	return us(cpu) / float64(writes)
}

// cpuPerWrite is the server CPU per acknowledged write of a load, in µs.
func cpuPerWrite(l replLoad) float64 {
	if l.writes() == 0 {
		return 0
	}
	return us(l.serverCPU) / float64(l.writes())
}

// measureBootstrap loads o.bootstrapKeys keys into a primary over HTTP
// (replClients clients, not timed), then times a fresh secondary from
// secondary/enable until it streams WALs with the primary's merkle root.
func measureBootstrap(ctx context.Context, o options) (res replBootstrapResult, err error) {
	keys := o.bootstrapKeys
	c, err := newReplCluster(ctx, o)
	if err != nil {
		return res, err
	}
	defer func() {
		if cErr := c.close(ctx); cErr != nil && err == nil {
			err = cErr
		}
	}()
	loadStart := time.Now()
	if err := loadKeys(ctx, c.primary.apiAddr, keys); err != nil {
		return res, fmt.Errorf("load keys on the primary: %w", err)
	}
	loadS := time.Since(loadStart).Seconds()

	_, enable, err := c.addSecondary(ctx, "bootstrap")
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := enable(ctx); err != nil {
		return res, err
	}
	if err := c.waitConverged(ctx, bootstrapLimit, 5*time.Millisecond); err != nil {
		return res, err
	}
	boot := time.Since(start)

	bulk, err := measureBulkInsert(ctx, keys, kvBody())
	if err != nil {
		return res, fmt.Errorf("SQLite bulk insert: %w", err)
	}
	res = replBootstrapResult{
		Keys:               keys,
		LoadS:              loadS,
		BootstrapS:         boot.Seconds(),
		KeysPerS:           float64(keys) / boot.Seconds(),
		BulkInsertS:        bulk.Seconds(),
		BulkInsertKeysPerS: float64(keys) / bulk.Seconds(),
	}
	res.Ratio = res.KeysPerS / res.BulkInsertKeysPerS
	return res, nil
}

// measureBulkInsert times one transaction inserting keys rows (the
// bootstrap's keys, in key order) into a fresh file opened with the store's
// writer DSN on FULL sync: the floor a bootstrap is compared against.
func measureBulkInsert(ctx context.Context, keys int, value []byte) (elapsed time.Duration, err error) {
	dir, err := os.MkdirTemp("", "vaultrepl-bench-bulk-")
	if err != nil {
		return 0, fmt.Errorf("create temp dir: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove temp dir: %w", rmErr)
		}
	}()
	db, err := sql.Open("sqlite3", rawDSN(filepath.Join(dir, "bulk.db"), storage.SyncFull))
	if err != nil {
		return 0, fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cErr := db.Close(); cErr != nil && err == nil {
			err = fmt.Errorf("close: %w", cErr)
		}
	}()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE bench (k TEXT PRIMARY KEY, v BLOB)`); err != nil {
		return 0, fmt.Errorf("create table: %w", err)
	}
	start := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO bench(k, v) VALUES(?, ?)`)
	if err != nil {
		_ = tx.Rollback()
		return 0, fmt.Errorf("prepare: %w", err)
	}
	for _, key := range bootKeys(keys) {
		if _, err := ins.ExecContext(ctx, key, value); err != nil {
			_ = ins.Close()
			_ = tx.Rollback()
			return 0, fmt.Errorf("insert: %w", err)
		}
	}
	_ = ins.Close()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return time.Since(start), nil
}

// measurePromotion promotes promotionRuns fresh converged secondaries.
func measurePromotion(ctx context.Context, o options) (replPromotionResult, error) {
	res := replPromotionResult{Runs: []promotionRun{}}
	var firsts []time.Duration
	for i := range promotionRuns {
		run, err := promoteOnce(ctx, o)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", i+1, err)
		}
		res.Runs = append(res.Runs, run)
		firsts = append(firsts, time.Duration(run.FirstWriteMS*float64(time.Millisecond)))
	}
	res.MinMS = ms(slices.Min(firsts))
	res.MedianMS = ms(percentile(firsts, 50))
	return res, nil
}

// promoteOnce builds a converged pair, generates the DR operation token (not
// timed), then times from sending promote to the first PUT secret/... on
// the promoted cluster answering 204.
func promoteOnce(ctx context.Context, o options) (run promotionRun, err error) {
	c, err := newReplCluster(ctx, o)
	if err != nil {
		return run, err
	}
	defer func() {
		if cErr := c.close(ctx); cErr != nil && err == nil {
			err = cErr
		}
	}()
	if err := c.addSecondaries(ctx, 1); err != nil {
		return run, err
	}
	sec := c.secondaries[0]
	opToken, err := c.drOperationToken(ctx, sec)
	if err != nil {
		return run, err
	}
	w := newKVWriter(sec.apiAddr, replRootToken, "secret/bench/", 0)
	defer w.close()
	// Open the writer's keep-alive connection outside the timed window; a
	// DR secondary refuses the write, which is expected here.
	_, _ = w.put(ctx, "promoted")

	start := time.Now()
	if err := c.api.call(ctx, http.MethodPut, sec, "sys/replication/dr/secondary/promote", "", map[string]any{"dr_operation_token": opToken}, nil); err != nil {
		return run, err
	}
	run.PromoteMS = ms(time.Since(start))
	var last string
	for {
		run.WriteTries++
		_, msg := w.put(ctx, "promoted")
		if msg == "" {
			run.FirstWriteMS = ms(time.Since(start))
			break
		}
		last = msg
		if err := ctx.Err(); err != nil {
			return run, err
		}
		if time.Since(start) > promotionWriteLimit || run.WriteTries >= promotionMaxWriteTries {
			return run, fmt.Errorf("no write accepted %s after promote (%d tries): %s", promotionWriteLimit, run.WriteTries, last)
		}
	}
	if st, err := c.api.drStatus(ctx, sec); err != nil || st.Mode != "primary" {
		return run, fmt.Errorf("promoted cluster's DR status: mode %q, error %v", st.Mode, err)
	}
	return run, nil
}

// replPartIDs are the parts of the replication section, for -repl-parts.
var replPartIDs = []string{"lag", "throughput", "bootstrap", "promotion"}

// pickReplParts parses a -repl-parts list; empty means every part.
func pickReplParts(list string) (map[string]bool, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	parts := map[string]bool{}
	for _, id := range strings.Split(list, ",") {
		id = strings.TrimSpace(id)
		if !slices.Contains(replPartIDs, id) {
			return nil, fmt.Errorf("unknown part %q in -repl-parts: want some of %s", id, strings.Join(replPartIDs, ","))
		}
		parts[id] = true
	}
	return parts, nil
}

// runsReplPart reports whether the replication section runs part.
func (o options) runsReplPart(part string) bool { return o.replParts == nil || o.replParts[part] }

// verdict spells whether a figure meets its target.
func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

func replicationTable(w io.Writer, r *report) {
	rr := r.Replication
	if rr == nil {
		return
	}
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }

	p("(a) lag: primary 204 -> applied on the secondary (1 secondary, %d clients)\n", replClients)
	p("load\toffered w/s\twrites/s\twrites\terrors\tlag p50 ms\tlag p99 ms\tlag max ms\tcatch-up ms\tprimary CPU/write us\ttarget\t\n")
	for _, l := range rr.Lag {
		offered, limit := "max", targetLagP99MaxMS
		if l.TargetWritesPerS > 0 {
			offered, limit = fmt.Sprintf("%.0f", l.TargetWritesPerS), targetLagP99HalfMS
		}
		target := fmt.Sprintf("p99 <= %.0f ms: %s", limit, verdict(l.LagP99MS <= limit && l.Unapplied == 0 && l.Unmapped == 0))
		p("%s\t%s\t%.0f\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%s\t\n", l.Load, offered, l.WritesPerS, l.Writes, l.Errors, l.LagP50MS, l.LagP99MS, l.LagMaxMS, l.CatchUpMS, l.PrimaryCPUPerWriteUS, target)
	}
	for _, l := range rr.Lag {
		if l.AppliedBeforeAck+l.Unmapped+l.Unapplied > 0 {
			p("  %s: %d applied before their 204 (counted 0 ms), %d not found in the WAL, %d never applied\n", l.Load, l.AppliedBeforeAck, l.Unmapped, l.Unapplied)
		}
	}
	for _, line := range lagMethodLines {
		p("  %s\n", line)
	}

	p("\n(b) primary write throughput vs secondaries attached (%d clients)\n", replClients)
	p("secondaries\twrites/s\tp50 ms\tp99 ms\terrors\tx none\tcatch-up ms\tprimary CPU/write us\tsecondary CPU/write us\ttarget\t\n")
	for _, t := range rr.Throughput {
		target := ""
		if t.Secondaries == replThroughputSecondary && t.RatioToNone > 0 {
			target = fmt.Sprintf(">= %.2f: %s", targetThroughputRatio, verdict(t.RatioToNone >= targetThroughputRatio))
		}
		p("%d\t%.0f\t%.2f\t%.2f\t%d\t%.2f\t%.1f\t%.1f\t%.1f\t%s\t\n", t.Secondaries, t.WritesPerS, t.P50MS, t.P99MS, t.Errors, t.RatioToNone, t.CatchUpMS, t.PrimaryCPUPerWriteUS, t.SecondaryCPUPerWriteUS, target)
	}

	if b := rr.Bootstrap; b != nil {
		p("\n(c) bootstrap of a new secondary (enable -> stream-wals with the primary's merkle root)\n")
		p("keys\tbootstrap s\tkeys/s\tbulk insert s\tbulk keys/s\tratio\ttarget\t\n")
		p("%d\t%.2f\t%.0f\t%.3f\t%.0f\t%.2f\t>= %.2f: %s\t\n", b.Keys, b.BootstrapS, b.KeysPerS, b.BulkInsertS, b.BulkInsertKeysPerS, b.Ratio, targetBootstrapRatio, verdict(b.Ratio >= targetBootstrapRatio))
		p("  keys were loaded on the primary over HTTP in %.2f s (not timed); bulk insert: one transaction, key order, same DSN as the store\n", b.LoadS)
	}

	if pr := rr.Promotion; pr != nil {
		p("\n(d) promote -> first write answered 204 on the promoted cluster (%d fresh pairs)\n", len(pr.Runs))
		p("run\tpromote answer ms\tfirst write ms\twrite tries\t\n")
		for i, run := range pr.Runs {
			p("%d\t%.1f\t%.1f\t%d\t\n", i+1, run.PromoteMS, run.FirstWriteMS, run.WriteTries)
		}
		p("min %.1f ms, median %.1f ms (target <= %.0f ms: %s)\n", pr.MinMS, pr.MedianMS, targetPromotionMS, verdict(pr.MedianMS <= targetPromotionMS))
	}
}
