package main

import (
	"fmt"
	"io"
)

// The targets (issue 12). They are informational: missing one does
// not change the exit code, because the figures depend on the machine as
// much as on the code. Ratios are what to compare between runs on a shared
// machine; absolute rates move with the neighbours' load.
const (
	targetCPUPerWriteUS     = 45.0
	targetRatioToRaw        = 4.0
	targetThroughputRatio   = 0.90
	targetLagP99HalfMS      = 2.0
	targetLagP99MaxMS       = 10.0
	targetBootstrapRatio    = 0.70
	targetPromotionMS       = 20.0
	replThroughputSecondary = 1 // the throughput row whose ratio to none is a target
)

// targetRow is one row of the targets table.
type targetRow struct {
	Figure   string  `json:"figure"`
	Measured string  `json:"measured"` // "" when the section did not run
	Value    float64 `json:"value"`    // the figure compared with the target
	Target   string  `json:"target"`
	// Met is nil when the figure was not measured.
	Met *bool `json:"met"`
	// Vault is the same figure for the Vault peer, when it ran and the
	// figure applies to it.
	Vault string `json:"vault,omitempty"`
}

// targets computes every row from the report; a row whose section did not
// run (or failed) says so instead of a number.
func targets(r *report) []targetRow {
	rows := []targetRow{}
	add := func(row targetRow, ok bool, met bool) {
		if ok {
			row.Met = &met
		}
		rows = append(rows, row)
	}

	kv, kvOK := kvRow(r, "full", headlineClients)
	cpu := targetRow{Figure: fmt.Sprintf("server CPU per acknowledged KV write (%d clients, FULL)", headlineClients), Target: fmt.Sprintf("<= %.0f us", targetCPUPerWriteUS)}
	ratio := targetRow{Figure: fmt.Sprintf("%d-client FULL throughput / SQLite single-row FULL floor", headlineClients), Target: fmt.Sprintf(">= %.0fx", targetRatioToRaw)}
	if kvOK {
		cpu.Value, cpu.Measured = kv.CPUPerWriteUS, fmt.Sprintf("%.1f us (%.0f writes/s)", kv.CPUPerWriteUS, kv.WritesPerS)
		if kv.RatioToRaw > 0 {
			ratio.Value, ratio.Measured = kv.RatioToRaw, fmt.Sprintf("%.2fx (%.0f / %.0f)", kv.RatioToRaw, kv.WritesPerS, kv.WritesPerS/kv.RatioToRaw)
		}
	}
	if v := r.Vault; v != nil {
		cpu.Vault = fmt.Sprintf("%.1f us (%.0f writes/s)", v.CPUPerWriteUS, v.WritesPerS)
		if v.RatioToRaw > 0 {
			ratio.Vault = fmt.Sprintf("%.2fx", v.RatioToRaw)
		}
	}
	add(cpu, kvOK, cpu.Value <= targetCPUPerWriteUS)
	add(ratio, ratio.Value > 0, ratio.Value >= targetRatioToRaw)

	rr := r.Replication
	tp := targetRow{Figure: fmt.Sprintf("throughput with %d DR secondary / with none", replThroughputSecondary), Target: fmt.Sprintf(">= %.2fx", targetThroughputRatio)}
	if rr != nil {
		for _, t := range rr.Throughput {
			if t.Secondaries == replThroughputSecondary && t.RatioToNone > 0 {
				tp.Value, tp.Measured = t.RatioToNone, fmt.Sprintf("%.2fx", t.RatioToNone)
			}
		}
	}
	add(tp, tp.Value > 0, tp.Value >= targetThroughputRatio)

	for _, lt := range []struct {
		load   string
		target float64
	}{{"half", targetLagP99HalfMS}, {"max", targetLagP99MaxMS}} {
		row := targetRow{Figure: fmt.Sprintf("replication lag p50/p99/max at %s load", lt.load), Target: fmt.Sprintf("p99 <= %.0f ms", lt.target)}
		found := false
		if rr != nil {
			for _, l := range rr.Lag {
				if l.Load == lt.load && l.LagSamples > 0 {
					found = true
					row.Value = l.LagP99MS
					row.Measured = fmt.Sprintf("%.2f / %.2f / %.2f ms (%.0f writes/s)", l.LagP50MS, l.LagP99MS, l.LagMaxMS, l.WritesPerS)
				}
			}
		}
		add(row, found, row.Value <= lt.target)
	}

	boot := targetRow{Figure: "bootstrap keys/s / bulk-insert keys/s", Target: fmt.Sprintf(">= %.2fx", targetBootstrapRatio)}
	if rr != nil && rr.Bootstrap != nil {
		b := rr.Bootstrap
		boot.Figure = fmt.Sprintf("bootstrap of %d keys / bulk-insert rate", b.Keys)
		boot.Value, boot.Measured = b.Ratio, fmt.Sprintf("%.2fx (%.0f / %.0f keys/s)", b.Ratio, b.KeysPerS, b.BulkInsertKeysPerS)
	}
	add(boot, boot.Value > 0, boot.Value >= targetBootstrapRatio)

	promo := targetRow{Figure: "promotion -> first accepted write (median)", Target: fmt.Sprintf("<= %.0f ms", targetPromotionMS)}
	if rr != nil && rr.Promotion != nil {
		p := rr.Promotion
		promo.Value, promo.Measured = p.MedianMS, fmt.Sprintf("%.1f ms (min %.1f)", p.MedianMS, p.MinMS)
	}
	add(promo, promo.Measured != "", promo.Value <= targetPromotionMS)

	pgRow, pgOK := postgresTarget(r)
	add(pgRow, pgOK, pgRow.Value >= pgTargetRatio)
	return rows
}

// postgresTarget is issue 11's row: 16-client FULL KV writes on
// PostgreSQL over the raw single-row commit rate (mean of the rates
// measured right before and right after the KV runs).
func postgresTarget(r *report) (targetRow, bool) {
	row := targetRow{
		Figure: fmt.Sprintf("PostgreSQL %d-client FULL throughput / raw single-row commit rate (issue 11)", headlineClients),
		Target: fmt.Sprintf(">= %dx", pgTargetRatio),
	}
	p := r.Postgres
	if p == nil || p.Ratio <= 0 {
		return row, false
	}
	for _, res := range p.KVWrite {
		if res.Clients == headlineClients {
			row.Value = p.Ratio
			row.Measured = fmt.Sprintf("%.2fx (%.0f / %.0f, raw %.0f before, %.0f after; %.1f us CPU/write)",
				p.Ratio, res.WritesPerS, p.RawCommitsPerS, p.RawBefore.PerS, p.RawAfter.PerS, res.CPUPerWriteUS)
		}
	}
	return row, row.Value > 0
}

// kvRow finds a KV write measurement.
func kvRow(r *report, mode string, clients int) (kvWriteResult, bool) {
	for _, res := range r.KVWrite {
		if res.Sync == mode && res.Clients == clients && res.Writes > 0 {
			return res, true
		}
	}
	return kvWriteResult{}, false
}

func printTargets(w io.Writer, r *report) {
	withVault := r.Vault != nil
	header := "figure\tmeasured\ttarget\tmet?\t"
	if withVault {
		header += "vault\t"
	}
	_, _ = fmt.Fprintln(w, header)
	for _, row := range r.Targets {
		measured, met := row.Measured, "not measured"
		if row.Met != nil {
			met = "no"
			if *row.Met {
				met = "yes"
			}
		}
		if measured == "" {
			measured = "-"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t", row.Figure, measured, row.Target, met)
		if withVault {
			v := row.Vault
			if v == "" {
				v = "-"
			}
			line += v + "\t"
		}
		_, _ = fmt.Fprintln(w, line)
	}
	_, _ = fmt.Fprintln(w, "Shared machine: compare ratios between runs; absolute rates move with the neighbours' load.")
}
