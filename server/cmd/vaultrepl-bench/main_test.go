package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRunWritesReport runs the whole program with a tiny duration. It proves
// the benchmark works end to end (nodes start, writes succeed, the report is
// complete); it asserts nothing about speed.
func TestRunWritesReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-duration", "200ms", "-out", out}, &stdout, &stderr); code != 0 {
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
		if res.WritesPerS <= 0 || res.Errors != 0 || res.RatioToRaw <= 0 {
			t.Errorf("kv_write %s/%d: %+v, want writes_per_s > 0, no errors, a ratio", res.Sync, res.Clients, res)
		}
	}
	if r.Headline == nil || r.Headline.Ratio <= 0 || r.Headline.Target != headlineTarget {
		t.Errorf("headline = %+v, want a ratio and target %v", r.Headline, headlineTarget)
	}
	if !bytes.Contains(stdout.Bytes(), []byte("headline:")) {
		t.Errorf("table has no headline line:\n%s", stdout.String())
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
