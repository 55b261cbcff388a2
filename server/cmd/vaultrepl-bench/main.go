// Command vaultrepl-bench measures vaultrepl-server's write path and prints a
// table plus a JSON report:
//
//	go run ./server/cmd/vaultrepl-bench [-out bench.json] [-duration 5s] [-quick] [-sections raw,kvwrite,replication] [-bootstrap-keys 100000]
//
// It is a program rather than a Go benchmark because each measurement runs
// for a fixed wall-clock time against a full in-process server on real
// loopback sockets and a real SQLite file, and the report (with its ratios
// between sections) is the product, not ns/op.
//
// Each measurement is a section (one file per section, listed in sections()
// below): raw SQLite, KV write throughput, and DR replication (lag,
// throughput with secondaries, bootstrap, promotion).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the settings every section sees.
type options struct {
	duration      time.Duration // how long each single measurement runs
	bootstrapKeys int           // keys on the primary when a secondary bootstraps (replication)
	stderr        io.Writer     // progress and error samples, kept off the table
}

// report is the JSON document. Sections fill in their own fields.
type report struct {
	When      string          `json:"when"`
	Go        string          `json:"go"`
	CPUs      int             `json:"cpus"`
	DurationS float64         `json:"duration_s"`
	RawSQLite []rawResult     `json:"raw_sqlite"`
	KVWrite   []kvWriteResult `json:"kv_write"`
	// Replication is set when the replication section runs.
	Replication *replReport `json:"replication,omitempty"`
	// Barrier is set when the barrier section runs (barrier.go).
	Barrier *barrierResult `json:"barrier,omitempty"`
	// Postgres is set when the postgres section runs.
	Postgres *pgReport `json:"postgres,omitempty"`
	Headline *headline `json:"headline,omitempty"`
}

// headline is the one number the run is judged by.
type headline struct {
	Name   string  `json:"name"`
	Ratio  float64 `json:"ratio"`
	Target float64 `json:"target"`
}

// section is one group of measurements. run fills in its part of the report
// and returns how many requests failed (failures are measured, not fatal, so
// the rest of the run still reports); an error means the section could not
// measure at all. table prints its rows.
type section struct {
	id    string // for -sections
	name  string
	run   func(ctx context.Context, o options, r *report) (failures int, err error)
	table func(w io.Writer, r *report)
}

// sections lists the measurements in the order they run. Later sections may
// read what earlier ones put in the report (kv_write divides by raw_sqlite).
func sections() []section {
	return []section{rawSection(), kvWriteSection(), barrierSection(), replicationSection(), postgresSection()}
}

func sectionIDs() []string {
	var ids []string
	for _, s := range sections() {
		ids = append(ids, s.id)
	}
	return ids
}

// pickSections returns the sections named in a -sections list, in their
// normal order; an empty list means all of them.
func pickSections(list string) ([]section, error) {
	all := sections()
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	want := map[string]bool{}
	for _, id := range strings.Split(list, ",") {
		id = strings.TrimSpace(id)
		if !slices.Contains(sectionIDs(), id) {
			return nil, fmt.Errorf("unknown section %q in -sections: want some of %s", id, strings.Join(sectionIDs(), ","))
		}
		want[id] = true
	}
	var picked []section
	for _, s := range all {
		if want[s.id] {
			picked = append(picked, s)
		}
	}
	return picked, nil
}

// run is main without the process: it returns the exit code (0 success,
// 1 failures or a section that could not run, 2 bad command line).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vaultrepl-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "bench.json", "`path` of the JSON report")
	duration := fs.Duration("duration", 5*time.Second, "how long each measurement runs")
	quick := fs.Bool("quick", false, "smoke run: every measurement runs 1s (overrides -duration) and the bootstrap uses 10000 keys")
	bootstrapKeys := fs.Int("bootstrap-keys", 0, "keys on the primary when a new secondary bootstraps (default 100000, 10000 with -quick)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `path` (to see where the time goes)")
	only := fs.String("sections", "", "comma-separated section `ids` to run (default all: "+strings.Join(sectionIDs(), ",")+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: unexpected arguments %q; every setting is a flag\n", fs.Args())
		return 2
	}
	if *quick {
		*duration = time.Second
	}
	if *bootstrapKeys == 0 {
		*bootstrapKeys = defaultBootstrapKeys
		if *quick {
			*bootstrapKeys = quickBootstrapKeys
		}
	}
	if *bootstrapKeys < 0 {
		_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: -bootstrap-keys must be positive, got %d\n", *bootstrapKeys)
		return 2
	}
	if *duration <= 0 {
		_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: -duration must be positive, got %s\n", *duration)
		return 2
	}

	secs, err := pickSections(*only)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: %v\n", err)
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: %v\n", err)
			return 2
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: start CPU profile: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	o := options{duration: *duration, bootstrapKeys: *bootstrapKeys, stderr: stderr}
	r := &report{
		When:      time.Now().UTC().Format(time.RFC3339),
		Go:        runtime.Version(),
		CPUs:      runtime.NumCPU(),
		DurationS: duration.Seconds(),
	}
	// Empty lists rather than null, so consumers of the JSON need no nil case.
	r.RawSQLite, r.KVWrite = []rawResult{}, []kvWriteResult{}

	failures, failed := 0, false
	for _, s := range secs {
		if err := ctx.Err(); err != nil {
			_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: interrupted before %s\n", s.name)
			failed = true
			break
		}
		_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: running %s (%s per measurement)\n", s.name, o.duration)
		n, err := s.run(ctx, o, r)
		failures += n
		if err != nil {
			// Keep going: the other sections' numbers are still worth having.
			_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: %s: %v\n", s.name, err)
			failed = true
		}
	}

	printTable(stdout, r, secs)

	data, err := json.MarshalIndent(r, "", "  ")
	if err == nil {
		err = os.WriteFile(*out, append(data, '\n'), 0o644)
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: write report: %v\n", err)
		failed = true
	} else {
		_, _ = fmt.Fprintf(stdout, "\nreport written to %s\n", *out)
	}

	if failures > 0 {
		_, _ = fmt.Fprintf(stderr, "vaultrepl-bench: %d request(s) failed (see the errors column)\n", failures)
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}

// printTable prints every section's rows, then the headline. The headline is
// informational: missing the target does not change the exit code, because
// the numbers depend on the machine as much as on the code.
func printTable(w io.Writer, r *report, secs []section) {
	_, _ = fmt.Fprintf(w, "vaultrepl-bench  %s  %s  %d CPUs  %s per measurement\n", r.When, r.Go, r.CPUs, time.Duration(r.DurationS*float64(time.Second)))
	for _, s := range secs {
		_, _ = fmt.Fprintf(w, "\n== %s\n", s.name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		s.table(tw, r)
		_ = tw.Flush()
	}
	if h := r.Headline; h != nil {
		verdict := "PASS"
		if h.Ratio < h.Target {
			verdict = "BELOW TARGET"
		}
		_, _ = fmt.Fprintf(w, "\nheadline: %s = %.2fx (target >= %.0fx): %s\n", h.Name, h.Ratio, h.Target, verdict)
	}
}
