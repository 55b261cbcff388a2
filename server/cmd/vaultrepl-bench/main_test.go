package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

var builder testserver.Builder

// TestRunWritesReport runs the whole program with a tiny duration and a
// small bootstrap against server processes built from this tree. It proves
// the benchmark works end to end (servers start, writes succeed and their
// CPU is measured, DR sets converge and promote, the report and the targets
// table are complete); it asserts nothing about speed.
func TestRunWritesReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	profile := filepath.Join(t.TempDir(), "server.pprof")
	var stdout, stderr bytes.Buffer
	args := []string{"-duration", "200ms", "-bootstrap-keys", "2000", "-perf-keys", "2000", "-out", out,
		"-server-bin", builder.Binary(t), "-vault-bin", "", "-server-cpuprofile", profile}
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	if len(r.RawSQLite) != 2 {
		t.Errorf("raw_sqlite has %d rows, want 2", len(r.RawSQLite))
	}
	for _, res := range r.RawSQLite {
		if res.RowsPerS <= 0 {
			t.Errorf("raw_sqlite %s: rows_per_s = %v, want > 0", res.Sync, res.RowsPerS)
		}
	}
	if len(r.KVWrite) != 4 {
		t.Fatalf("kv_write has %d rows, want 4", len(r.KVWrite))
	}
	for _, res := range r.KVWrite {
		if res.WritesPerS <= 0 || res.Errors != 0 || res.RatioToRaw <= 0 || res.CPUPerWriteUS <= 0 {
			t.Errorf("kv_write %s/%d: %+v, want writes_per_s > 0, no errors, a ratio, server CPU per write", res.Sync, res.Clients, res)
		}
	}
	if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
		t.Errorf("server CPU profile %s: %v, want a non-empty file", profile, err)
	}
	checkReplication(t, r.Replication)
	checkPerf(t, r.Performance, 2000)
	checkPostgres(t, r.Postgres)
	checkTargets(t, r, stdout.String())
	if !bytes.Contains(stdout.Bytes(), []byte("(d) promote")) {
		t.Errorf("table has no replication rows:\n%s", stdout.String())
	}
}

// checkPostgres checks the PostgreSQL section: raw rates before and after
// the KV runs, both KV rows from a server process with its CPU measured,
// and replication lag at max and half load with every write applied.
func checkPostgres(t *testing.T, p *pgReport) {
	t.Helper()
	if p == nil || p.RawBefore.PerS <= 0 || p.RawAfter.PerS <= 0 || len(p.KVWrite) != 2 || p.Ratio <= 0 {
		t.Fatalf("postgres = %+v, want raw rates before and after, two kv_write rows and a ratio", p)
	}
	if p.RawCommitsPerS != (p.RawBefore.PerS+p.RawAfter.PerS)/2 {
		t.Errorf("postgres raw_commits_per_s = %v, want the mean of %v and %v", p.RawCommitsPerS, p.RawBefore.PerS, p.RawAfter.PerS)
	}
	for _, res := range p.KVWrite {
		if res.WritesPerS <= 0 || res.Errors != 0 || res.RatioToRaw <= 0 || res.CPUPerWriteUS <= 0 || res.PostgresCPUPerWriteUS <= 0 {
			t.Errorf("postgres kv_write %d clients: %+v, want writes, no errors, a ratio, server and PostgreSQL CPU per write", res.Clients, res)
		}
	}
	if len(p.Lag) != 2 || p.Lag[0].Load != "max" || p.Lag[1].Load != "half" || p.Lag[1].TargetWritesPerS <= 0 {
		t.Fatalf("postgres lag = %+v, want a max and a half row", p.Lag)
	}
	for _, l := range p.Lag {
		if l.LagSamples <= 0 || l.Errors != 0 || l.Unapplied != 0 || l.Unmapped != 0 || l.LagP99MS < l.LagP50MS || l.LagMaxMS < l.LagP99MS {
			t.Errorf("postgres lag at %s: %+v, want samples, no errors, nothing unapplied or unmapped, p50 <= p99 <= max", l.Load, l)
		}
	}
}

// TestPostgresSection runs the PostgreSQL section alone: a throwaway
// PostgreSQL, a vaultrepl-server process on it per client count.
func TestPostgresSection(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	args := []string{"-duration", "200ms", "-sections", "postgres", "-out", out, "-server-bin", builder.Binary(t)}
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	checkPostgres(t, r.Postgres)
	if !strings.Contains(stdout.String(), "raw commit (after)") || !strings.Contains(stdout.String(), "(issue 11)") ||
		!strings.Contains(stdout.String(), "DR replication lag on PostgreSQL") {
		t.Errorf("table has no PostgreSQL rows or target:\n%s", stdout.String())
	}
}

// checkReplication checks that every part of the replication section
// reported plausible rows.
func checkReplication(t *testing.T, rr *replReport) {
	t.Helper()
	if rr == nil {
		t.Fatal("report has no replication part")
	}
	if rr.LagMethod == "" {
		t.Error("replication lag_method is empty")
	}
	if len(rr.Lag) != 2 || rr.Lag[0].Load != "max" || rr.Lag[1].Load != "half" {
		t.Errorf("replication lag rows = %+v, want max and half", rr.Lag)
	}
	for _, l := range rr.Lag {
		if l.Writes == 0 || l.WritesPerS <= 0 || l.Errors != 0 || l.LagSamples == 0 || l.LagMaxMS <= 0 || l.Unapplied != 0 || l.Unmapped != 0 {
			t.Errorf("replication lag %s: %+v, want writes, lag samples, no errors, every write applied", l.Load, l)
		}
	}
	if len(rr.Lag) == 2 && (rr.Lag[1].TargetWritesPerS <= 0 || rr.Lag[1].TargetWritesPerS != rr.Lag[0].WritesPerS/2) {
		t.Errorf("half load offered %v w/s, want half of %v", rr.Lag[1].TargetWritesPerS, rr.Lag[0].WritesPerS)
	}
	if len(rr.Throughput) != 3 {
		t.Errorf("replication throughput has %d rows, want 3", len(rr.Throughput))
	}
	for i, tp := range rr.Throughput {
		if tp.Secondaries != []int{0, 1, 3}[min(i, 2)] || tp.WritesPerS <= 0 || tp.Errors != 0 || tp.RatioToNone <= 0 {
			t.Errorf("replication throughput row %d: %+v, want 0/1/3 secondaries, writes, no errors, a ratio", i, tp)
		}
	}
	if b := rr.Bootstrap; b == nil || b.Keys != 2000 || b.KeysPerS <= 0 || b.BulkInsertKeysPerS <= 0 || b.Ratio <= 0 {
		t.Errorf("replication bootstrap = %+v, want 2000 keys, both rates and a ratio", b)
	}
	if p := rr.Promotion; p == nil || len(p.Runs) != promotionRuns || p.MinMS <= 0 || p.MedianMS < p.MinMS {
		t.Errorf("replication promotion = %+v, want %d runs, min and median", p, promotionRuns)
	} else {
		for _, run := range p.Runs {
			if run.FirstWriteMS < run.PromoteMS || run.WriteTries < 1 {
				t.Errorf("promotion run %+v: first write before the promote answer, or no write", run)
			}
		}
	}
}

// TestPerfSection runs the performance replication section alone: a pair
// of server processes, forwarded writes, reads on both, lag.
func TestPerfSection(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	args := []string{"-duration", "200ms", "-perf-keys", "500", "-sections", "perf", "-out", out, "-server-bin", builder.Binary(t)}
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	checkPerf(t, r.Performance, 500)
	if !strings.Contains(stdout.String(), "secondary (forwarded)") {
		t.Errorf("table has no forwarded-write row:\n%s", stdout.String())
	}
}

// checkPerf checks every row of the performance section: each load ran
// without errors, both servers' CPU was measured, writes were applied on
// the secondary and have lag samples, and the secondary rows have ratios.
func checkPerf(t *testing.T, pr *perfReport, keys int) {
	t.Helper()
	if pr == nil {
		t.Fatal("report has no performance part")
	}
	if pr.Keys != keys || len(pr.Rows) != len(perfLoads) {
		t.Fatalf("performance: %d keys, %d rows; want %d keys, %d rows", pr.Keys, len(pr.Rows), keys, len(perfLoads))
	}
	for i, row := range pr.Rows {
		want := perfLoads[i]
		if row.Op != want.op || row.On != want.on || row.Clients != want.clients {
			t.Errorf("performance row %d is %s/%s/%d, want %s/%s/%d", i, row.Op, row.On, row.Clients, want.op, want.on, want.clients)
		}
		if row.Ops == 0 || row.OpsPerS <= 0 || row.Errors != 0 || row.RatioToPrimary <= 0 {
			t.Errorf("performance row %d: %+v, want ops, no errors, a ratio", i, row)
		}
		// A server that served the load, or had to commit or apply it,
		// used CPU; a primary idle while its secondary serves reads may not.
		if (row.On == "primary" || row.Op == "write") && row.PrimaryCPUPerOpUS <= 0 {
			t.Errorf("performance row %d: the primary's CPU was not measured: %+v", i, row)
		}
		if row.Op == "write" && (row.LagSamples == 0 || row.Unapplied != 0 || row.Unmapped != 0) {
			t.Errorf("performance write row %d: %+v, want lag samples and every write applied", i, row)
		}
		if row.On == "secondary" && row.SecondaryCPUPerOpUS <= 0 {
			t.Errorf("performance row %d: the secondary's CPU was not measured: %+v", i, row)
		}
	}
}

// checkTargets checks that every target row was measured and printed.
func checkTargets(t *testing.T, r report, table string) {
	t.Helper()
	if len(r.Targets) != 8 {
		t.Fatalf("targets has %d rows, want 8: %+v", len(r.Targets), r.Targets)
	}
	for _, row := range r.Targets {
		if row.Met == nil || row.Measured == "" || row.Value <= 0 {
			t.Errorf("target %q not measured: %+v", row.Figure, row)
		}
		if !strings.Contains(table, row.Figure) {
			t.Errorf("table does not print target %q:\n%s", row.Figure, table)
		}
	}
	if !strings.Contains(table, "no -vault-bin") && !strings.Contains(table, "skipped: no Vault binary given") {
		t.Errorf("table does not say the Vault peer was skipped:\n%s", table)
	}
}

func TestParseBanner(t *testing.T) {
	out := "==> vaultrepl-server started in dev mode\n\n    API address:     http://127.0.0.1:4242\n    Unseal Key: 0a0b\n"
	api, key, ok := parseBanner(out)
	if !ok || api != "http://127.0.0.1:4242" || key != "0a0b" {
		t.Errorf("parseBanner = %q, %q, %v", api, key, ok)
	}
	if _, _, ok := parseBanner("API address: http://x\n"); ok {
		t.Error("parseBanner accepted a banner without an unseal key")
	}
}

func TestProcCPUOfThisProcess(t *testing.T) {
	// Burn a little CPU, then the figure must have moved: it is a
	// measurement, not a constant.
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ {
		if after, err := procCPU(os.Getpid()); err == nil && after > before {
			return
		}
	}
	t.Error("CPU time of this process did not move in 3s of busy loop")
}

// TestChildrenCPUCountsReapedChild: the CPU of a child that ran and was
// reaped (waited for) within the window is in childrenCPU of its parent,
// as PostgreSQL's ended backends are in the postmaster's.
func TestChildrenCPUCountsReapedChild(t *testing.T) {
	before, err := childrenCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A bounded busy loop in a child shell (a few hundred ms of CPU).
	cmd := exec.CommandContext(t.Context(), "sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	after, err := childrenCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts whole clock ticks (10 ms) and the child's figure is
	// finer: allow two ticks of rounding.
	if child < 50*time.Millisecond || after-before < child-2*time.Second/clockTicks {
		t.Errorf("childrenCPU moved by %s, the child used %s: want at least the child's", after-before, child)
	}
}

func TestPercentile(t *testing.T) {
	// Nearest rank: p50 of 1..10 is the 5th value, p99 the 10th.
	var s []time.Duration
	for i := 10; i >= 1; i-- {
		s = append(s, time.Duration(i))
	}
	if got := percentile(s, 50); got != 5 {
		t.Errorf("p50 = %d, want 5", got)
	}
	if got := percentile(s, 99); got != 10 {
		t.Errorf("p99 = %d, want 10", got)
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %d, want 0", got)
	}
}
