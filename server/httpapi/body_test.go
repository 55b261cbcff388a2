package httpapi

import (
	"errors"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

func nested(depth int) string {
	return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

// zeros is {"key":[0,0,...]} with n elements, the shape of the unseal attack.
func zeros(n int) string {
	return `{"key":[` + strings.TrimSuffix(strings.Repeat("0,", n), ",") + `]}`
}

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	b.WriteString("}")
	return b.String()
}

func TestBodyLimits(t *testing.T) {
	tests := []struct {
		name   string
		lim    bodyLimits
		body   string
		status int // 0: accepted
		want   string
	}{
		{"depth at the limit", authedBodyLimits, nested(maxJSONDepth), 0, ""},
		{"depth over the limit", authedBodyLimits, nested(maxJSONDepth + 1), 400, "deeper than the limit of 64 levels"},
		{"a million brackets", authedBodyLimits, `{"a":` + strings.Repeat("[", 1<<20), 400, "deeper than the limit"},
		{"values at the limit", authedBodyLimits, zeros(maxJSONValues - 2), 0, ""},
		{"values over the limit", authedBodyLimits, zeros(maxJSONValues - 1), 400, "more than 32768 JSON values"},
		{"keys over the limit", authedBodyLimits, manyKeys(maxJSONValues), 400, "more than 32768 JSON values"},
		{"large string", authedBodyLimits, `{"v":"` + strings.Repeat("x", 1<<20) + `"}`, 0, ""},
		{"unauth string at the cap", unauthBodyLimits, `{"key":"` + strings.Repeat("x", maxUnauthStringBytes) + `"}`, 0, ""},
		{"unauth string over the cap", unauthBodyLimits, `{"key":"` + strings.Repeat("x", maxUnauthStringBytes+1) + `"}`, 400, "the limit for unauthenticated endpoints is 4096 bytes"},
		{"unauth key over the cap", unauthBodyLimits, `{"` + strings.Repeat("k", maxUnauthStringBytes+1) + `":1}`, 400, "4096 bytes"},
		{"unauth body over the cap", unauthBodyLimits, zeros(40 << 10), 413, "64 KiB"},
		{"truncated object", authedBodyLimits, `{"a":[1,2`, 400, "failed to parse JSON input"},
		{"truncated key", authedBodyLimits, `{"a"`, 400, "failed to parse JSON input"},
		{"bad token", authedBodyLimits, `{"a":tru}`, 400, "failed to parse JSON input"},
		{"trailing data", authedBodyLimits, `{"a":1} x`, 400, "unexpected data after the JSON object"},
		{"array body", authedBodyLimits, `[1]`, 400, "got an array"},
		{"null body", authedBodyLimits, `null`, 0, ""},
		{"empty body", authedBodyLimits, ``, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("PUT", "/v1/secret/x", strings.NewReader(tt.body))
			_, err := readBody(httptest.NewRecorder(), req, tt.lim)
			status := 0
			var tooLarge *bodyTooLargeError
			switch {
			case err == nil:
			case errors.As(err, &tooLarge):
				status = 413
			case apierr.KindOf(err) == apierr.KindInvalid:
				status = 400
			default:
				t.Fatalf("error %v is neither a 400 nor a 413", err)
			}
			if status != tt.status {
				t.Fatalf("status %d (%v), want %d", status, err, tt.status)
			}
			if err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestBodyMemory decodes worst-case bodies and checks that what the decoder
// allocates in total (an upper bound of its peak heap) stays within
// bodyMemoryMultiple × body size + bodyMemoryOverhead. The multiple each
// body reached is logged (go test -v -run TestBodyMemory).
func TestBodyMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~100 MiB")
	}
	const big = maxBodyBytes - 64
	tests := []struct{ name, body string }{
		{"one 32 MiB string", `{"v":"` + strings.Repeat("x", big-10) + `"}`},
		{"32 MiB of escaped string", `{"v":"` + strings.Repeat(`\u00e9`, (big-10)/6) + `"}`},
		{"32 MiB of [0,0,...] (refused)", zeros(big / 2)},
		{"[0,0,...] at the value limit", zeros(maxJSONValues - 2)},
		{"many keys at the value limit", manyKeys(maxJSONValues - 1)},
		{"short strings at the value limit", `{"a":[` + strings.TrimSuffix(strings.Repeat(`"",`, maxJSONValues-2), ",") + `]}`},
		{"32 MiB of brackets (refused)", `{"a":` + strings.Repeat("[", big-5)},
		{"nesting at the limit", nested(maxJSONDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("PUT", "/v1/secret/x", strings.NewReader(tt.body))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := readBody(httptest.NewRecorder(), req, authedBodyLimits)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			size := uint64(len(tt.body))
			t.Logf("body %d bytes, allocated %d bytes (%.2f× body), error: %v", size, alloc, float64(alloc)/float64(size), err)
			if bound := bodyMemoryMultiple*size + bodyMemoryOverhead; alloc > bound {
				t.Fatalf("decoding a %d-byte body allocated %d bytes, over the stated bound %d", size, alloc, bound)
			}
		})
	}
}

// BenchmarkReadBody decodes a typical KV write body (the bench's shape).
func BenchmarkReadBody(b *testing.B) {
	body := `{"value":"` + strings.Repeat("v", 64) + `","owner":"team-a","n":42}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("PUT", "/v1/secret/x", strings.NewReader(body))
		if _, err := readBody(httptest.NewRecorder(), req, authedBodyLimits); err != nil {
			b.Fatal(err)
		}
	}
}
