package auth

import (
	"strings"
	"testing"
)

func TestPolicyLimits(t *testing.T) {
	deepHCL := func(n int) string {
		return `path "x" { capabilities = ` + strings.Repeat("[", n) + `"read"` + strings.Repeat("]", n) + ` }`
	}
	tests := []struct {
		name, rules string
		wantErr     string // "" for accepted
	}{
		{"nesting at the limit", `path "x" { allowed_parameters = { "k" = ` + strings.Repeat("[", maxPolicyDepth-2) + strings.Repeat("]", maxPolicyDepth-2) + ` } capabilities = ["read"] }`, ""},
		{"HCL nested 200 000 deep", deepHCL(200_000), "deeper than the limit of 32 levels"},
		{"HCL nested capabilities", deepHCL(2), "flat list of strings"},
		{"JSON nested capabilities", `{"path":{"x":{"capabilities":[["read"]]}}}`, "flat list of strings"},
		{"JSON capabilities as an object", `{"path":{"x":{"capabilities":{"read":true}}}}`, "must be a list of strings"},
		{"JSON capabilities as a number", `{"path":[{"x":{"capabilities":5}}]}`, "must be a list of strings"},
		{"JSON policy as a list", `{"path":{"x":{"policy":["read"]}}}`, "policy must be a string"},
		{"HCL policy as a list", `path "x" { policy = ["read"] }`, "policy on line 1 must be a string"},
		{"JSON nested a million deep", `{"path":{"x":{"capabilities":` + strings.Repeat("[", 500_000) + `}}}`, "deeper than the limit"},
		{"brackets inside strings do not count", `path "a` + strings.Repeat("[", 100) + `" { capabilities = ["read"] }`, ""},
		{"brackets inside comments do not count", "# " + strings.Repeat("{", 100) + "\n// " + strings.Repeat("[", 100) + "\n/* " + strings.Repeat("[", 100) + " */\n" + `path "a" { capabilities = ["read"] }`, ""},
		{"escaped quote keeps the string open", `path "a\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" { capabilities = ["read"] }`, ""},
		{"many brackets inside a string", `path "x" { comment = "` + strings.Repeat("[", 100_000) + `" capabilities = ["read"] }`, ""},
		{"heredoc hides brackets", "path \"x\" { comment = <<EOT\n" + strings.Repeat("[", 100) + "\nEOT\ncapabilities = [\"read\"] }", ""},
		{"a newline ends an HCL string", "path \"x\" { comment = \"a\n capabilities = " + strings.Repeat("[", 5000) + "\" }", "deeper than the limit"},
		{"interpolation hides a quote", `path "x" { comment = "${"}` + strings.Repeat("[", 5000) + `" }`, ""},
		{"unclosed nesting within the depth limit", `path "x" { capabilities = ` + strings.Repeat("[", 20), "never closed"},
		{"unclosed nesting many times over", strings.Repeat(`path "x" { capabilities = [[[[[[[[[[ `, 5000), "deeper than the limit"},
		{"stray closing bracket", `path "x" { capabilities = ["read"]] }`, "unexpected closing bracket or brace on line 1"},
		{"JSON unclosed", `{"path":{"x":{"capabilities":["read"`, "never closed"},
		{"too large", `path "a" { capabilities = ["read"] }` + strings.Repeat("\n", maxPolicyBytes), "the limit is 1048576 bytes"},
		{"NUL in a path pattern", `{"path":{"a\u0000b":{"capabilities":["read"]}}}`, "control character U+0000"},
		{"newline in a path pattern", `{"path":{"a\nb":{"capabilities":["read"]}}}`, "control character U+000A"},
		{"path pattern too long", `path "` + strings.Repeat("a", 2000) + `" { capabilities = ["read"] }`, "limit is 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePolicy("p", tt.rules)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatal("accepted")
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}
