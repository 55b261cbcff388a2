package main

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// row is one line of the report's table; ID is the results.json key.
type row struct {
	ID, Label, Value, Unit, Note string
}

func fmtSeconds(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// tableRows is the report's table, shared by the HTML and the Markdown.
func tableRows(r *results) []row {
	provider := "n/a"
	if r.RTOProviderSeconds != nil {
		provider = fmtSeconds(*r.RTOProviderSeconds)
	}
	n := func(v int) string { return strconv.Itoa(v) }
	return []row{
		{"rto_seconds", "RTO (server record)", fmtSeconds(r.RTOSeconds), "s", "first write accepted − last heartbeat from the lost primary"},
		{"rto_provider_seconds", "RTO (vaultrepl_dr_promotion)", provider, "s", "recovery_time_seconds after terraform apply -refresh-only"},
		{"rto_measured_seconds", "RTO (measured by the drill)", fmtSeconds(r.RTOMeasuredSeconds), "s", "first acknowledgement from the new primary − link cut"},
		{"rpo_entries", "RPO, entries known unreplicated", strconv.FormatUint(r.RPOEntries, 10), "entries", "what the secondary knew it lacked at promotion"},
		{"rpo_seconds", "RPO, seconds", fmtSeconds(r.RPOSeconds), "s", "recovery point → last write the old primary discarded"},
		{"discarded_writes", "Discarded writes (old primary)", strconv.FormatUint(r.DiscardedWrites, 10), "writes", "counted by the old primary's merkle sync"},
		{"lost_writes", "Lost writes (drill's count)", n(r.LostWrites), "writes", "on the old primary, never on the new one"},
		{"writes_acked", "Writes acknowledged", n(r.WritesAcked), "writes", "the ledger"},
		{"writes_checked", "Writes checked on the new primary", n(r.WritesChecked), "writes", "every acknowledged write"},
		{"missing", "Missing", n(r.Missing), "writes", "acknowledged, not on the new primary"},
		{"missing_outside_rpo", "Missing outside the recovery point", n(r.MissingOutsideRPO), "writes", "must be 0"},
		{"duration_seconds", "Drill duration", fmtSeconds(r.DurationSeconds), "s", ""},
	}
}

// writeReport writes results.json, report.md and report.html into dir.
func writeReport(dir string, r *results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.json": append(raw, '\n'),
		"report.md":    []byte(markdown(r)),
		"report.html":  []byte(htmlPage(r)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil { //nolint:gosec // a report to open in a browser
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func markdown(r *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Failover drill report\n\nFailover `%s`, %s. Timeline: open `report.html`.\n\n", r.FailoverID, time.Now().UTC().Format(time.RFC3339))
	b.WriteString("| Measure | Value | Unit | Note |\n|---|---:|---|---|\n")
	for _, x := range tableRows(r) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", x.Label, x.Value, x.Unit, x.Note)
	}
	fmt.Fprintf(&b, "\nEvents (seconds since the drill started): link cut %.3f, SIGKILL %.3f, last heartbeat %s, recovery point %s, promotion %.3f, first write %s.\n",
		r.Events.LinkCut, r.Events.Kill, optS(r.Events.LastHeartbeat), optS(r.Events.RecoveryPoint), r.Events.Promoted, optS(r.Events.FirstWrite))
	return b.String()
}

func optS(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmtSeconds(*v)
}

func htmlPage(r *results) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Failover drill report</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}
table{border-collapse:collapse;margin-top:16px}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}
td.value{text-align:right;font-variant-numeric:tabular-nums;font-weight:600}
tr.must td.value{color:#0a7d24}
tr.fail td.value{color:#c00}
</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>Failover drill report</h1>\n<p>Failover <code>%s</code>, %s.</p>\n", html.EscapeString(r.FailoverID), time.Now().UTC().Format(time.RFC3339))
	b.WriteString(timelineSVG(r))
	b.WriteString("\n<table id=\"evidence\"><thead><tr><th>Measure</th><th>Value</th><th>Unit</th><th>Note</th></tr></thead><tbody>\n")
	for _, x := range tableRows(r) {
		class := ""
		if x.ID == "missing_outside_rpo" {
			class = " class=\"must\""
			if r.MissingOutsideRPO != 0 {
				class = " class=\"fail\""
			}
		}
		fmt.Fprintf(&b, "<tr%s><th>%s</th><td class=\"value\" id=\"%s\">%s</td><td>%s</td><td>%s</td></tr>\n",
			class, html.EscapeString(x.Label), x.ID, html.EscapeString(x.Value), html.EscapeString(x.Unit), html.EscapeString(x.Note))
	}
	b.WriteString("</tbody></table>\n</body></html>\n")
	return b.String()
}
