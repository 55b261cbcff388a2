package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// chromiumPath finds headless Chromium (Debian's chromium package) or
// skips: `make drill` installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("chromium not found: this test opens the drill report in headless Chromium; `make drill` installs Debian's chromium package " +
		"(apt-get install chromium) when /usr/bin/chromium is absent")
	return ""
}

func chromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.Bytes()
}

// fixture is a plausible drill, for running the test without `make drill`.
func fixture() *results {
	r := &results{FailoverID: "fixture", RTOSeconds: 0.9021, RTOMeasuredSeconds: 0.9034, RPOEntries: 3, RPOSeconds: 0.5071,
		DiscardedWrites: 1100, LostWrites: 1100, WritesAcked: 6726, WritesChecked: 6726, Missing: 1100, DurationSeconds: 6.6}
	p := 0.9021
	r.RTOProviderSeconds = &p
	hb, rp, fw := 3.258, 3.254, 4.16
	r.Events = events{LinkCut: 3.259, Kill: 3.761, LastHeartbeat: &hb, RecoveryPoint: &rp, Promoted: 4.134, FirstWrite: &fw}
	for i := range 60 {
		s := sample{T: float64(i) * 0.1, Rate: 1000 + 500*math.Sin(float64(i)/5), LagEntries: float64(i % 7)}
		if s.T > 3.3 {
			s.LagEntries = -1
		}
		r.Samples = append(r.Samples, s)
	}
	return r
}

// TestDrillReport opens the drill's report in headless Chromium: the chart
// and the table render, and every number in the table (and in the
// Markdown) equals results.json. Under `make drill`, DRILL_REPORT names
// the drill's own report; otherwise a fixture is rendered.
func TestDrillReport(t *testing.T) {
	bin := chromiumPath(t)
	dir := os.Getenv("DRILL_REPORT")
	if dir == "" {
		dir = t.TempDir()
		if err := writeReport(dir, fixture()); err != nil {
			t.Fatal(err)
		}
		t.Log("DRILL_REPORT is not set: checking a report rendered from a fixture (make drill checks the drill's own)")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	page, err := filepath.Abs(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	dom := string(chromium(t, bin, "--dump-dom", "file://"+page))

	// The chart: the timeline with both series and the event markers.
	if !strings.Contains(dom, `<svg id="timeline"`) {
		t.Fatalf("no timeline chart in the rendered page:\n%.2000s", dom)
	}
	for _, class := range []string{`polyline class="write-rate"`, `g class="marker kill"`, `g class="marker promotion"`, `g class="marker link-cut"`} {
		if !strings.Contains(dom, class) {
			t.Errorf("chart lacks %s", class)
		}
	}
	if m := regexp.MustCompile(`class="write-rate"[^>]*points="([^"]*)"`).FindStringSubmatch(dom); m == nil || len(strings.Fields(m[1])) < 10 {
		t.Errorf("write-rate series has too few points: %v", m)
	}

	// The table: each value equals results.json.
	cells := map[string]string{}
	for _, m := range regexp.MustCompile(`<td class="value" id="(\w+)">([^<]*)</td>`).FindAllStringSubmatch(dom, -1) {
		cells[m[1]] = m[2]
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"rto_seconds", "rto_provider_seconds", "rto_measured_seconds", "rpo_entries", "rpo_seconds", "discarded_writes",
		"lost_writes", "writes_acked", "writes_checked", "missing", "missing_outside_rpo", "duration_seconds"}
	for _, k := range keys {
		got, ok := cells[k]
		if !ok {
			t.Errorf("table has no %s cell", k)
			continue
		}
		if !sameNumber(got, want[k]) {
			t.Errorf("table %s = %q, results.json %v", k, got, want[k])
		}
		if !strings.Contains(string(md), "| "+got+" |") {
			t.Errorf("report.md lacks the %s value %q", k, got)
		}
	}
	if want["missing_outside_rpo"] != 0.0 {
		t.Errorf("results.json: %v acknowledged writes missing outside the recovery point", want["missing_outside_rpo"])
	}

	// It renders: the screenshot holds the chart's blue series.
	shot := filepath.Join(t.TempDir(), "report.png")
	chromium(t, bin, "--window-size=1100,900", "--screenshot="+shot, "file://"+page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := countColour(img, 0x1f, 0x77, 0xb4); n < 200 {
		t.Errorf("screenshot shows %d pixels of the write-rate colour: the chart did not render", n)
	}
}

// sameNumber compares a table cell with a results.json value: 3 decimals
// for seconds, exact for counts, "n/a" for null.
func sameNumber(cell string, v any) bool {
	if v == nil {
		return cell == "n/a"
	}
	f, ok := v.(float64)
	if !ok {
		return false
	}
	got, err := strconv.ParseFloat(cell, 64)
	return err == nil && math.Abs(got-f) <= 0.0005
}

func countColour(img image.Image, r, g, b uint8) int {
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if near(cr>>8, r) && near(cg>>8, g) && near(cb>>8, b) {
				n++
			}
		}
	}
	return n
}

func near(a uint32, b uint8) bool { return math.Abs(float64(a)-float64(b)) <= 24 }

// TestEvaluateMissing: a write missing on the new primary counts against
// the recovery point unless the old primary acknowledged and held it after
// the recovery point.
func TestEvaluateMissing(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	rp := at(100)
	rto := 0.5
	e := evidence{
		start: base, cutAt: at(110), killAt: at(150),
		record: client.FailoverRecord{ID: "f", RecoveryPoint: &rp, PromotedAt: at(300), RecoveryTimeSeconds: &rto},
		ledger: []ack{
			{Key: "kept", Target: "A", Acked: at(50)},
			{Key: "lost-in-rpo", Target: "A", Acked: at(120)},
			{Key: "lost-before-rpo", Target: "A", Acked: at(90)},
			{Key: "never-stored", Target: "A", Acked: at(130)},
			{Key: "b-missing", Target: "B", Acked: at(400)},
			{Key: "b-first", Target: "B", Acked: at(350)},
		},
		keysA: map[string]bool{"kept": true, "lost-in-rpo": true, "lost-before-rpo": true},
		keysB: map[string]bool{"kept": true, "b-first": true},
	}
	r := evaluate(e)
	if r.Missing != 4 || r.MissingOutsideRPO != 3 || r.LostWrites != 2 || r.WritesChecked != 6 {
		t.Errorf("missing %d (outside %d), lost %d, checked %d; want 4 (3), 2, 6", r.Missing, r.MissingOutsideRPO, r.LostWrites, r.WritesChecked)
	}
	if math.Abs(r.RTOMeasuredSeconds-0.24) > 1e-9 {
		t.Errorf("measured RTO %v, want 0.24 (first acknowledgement from B − link cut)", r.RTOMeasuredSeconds)
	}
}
