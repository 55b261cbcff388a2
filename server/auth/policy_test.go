package auth

import (
	"strings"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name    string
		rules   string
		want    []pathRule // nil with wantErr
		wantErr string     // substring of the error
	}{
		{
			name:  "capabilities",
			rules: `path "secret/foo" { capabilities = ["read", "list"] }`,
			want:  []pathRule{{path: "secret/foo", caps: capRead | capList}},
		},
		{
			name:  "prefix glob stripped",
			rules: `path "secret/*" { capabilities = ["create"] }`,
			want:  []pathRule{{path: "secret/", isPrefix: true, caps: capCreate}},
		},
		{
			name:  "segment wildcard keeps trailing glob",
			rules: `path "secret/+/x*" { capabilities = ["update"] }`,
			want:  []pathRule{{path: "secret/+/x*", hasSegments: true, caps: capUpdate}},
		},
		{
			name:  "leading plus",
			rules: `path "+/x" { capabilities = ["read"] }`,
			want:  []pathRule{{path: "+/x", hasSegments: true, caps: capRead}},
		},
		{
			name:  "leading slash stripped",
			rules: `path "/sys/mounts" { capabilities = ["read", "sudo"] }`,
			want:  []pathRule{{path: "sys/mounts", caps: capRead | capSudo}},
		},
		{
			name:  "deny excludes the rest",
			rules: `path "a" { capabilities = ["read", "deny", "update"] }`,
			want:  []pathRule{{path: "a", caps: capDeny}},
		},
		{
			name:  "legacy read",
			rules: `path "a" { policy = "read" }`,
			want:  []pathRule{{path: "a", caps: capRead | capList}},
		},
		{
			name:  "legacy write",
			rules: `path "a" { policy = "write" }`,
			want:  []pathRule{{path: "a", caps: capCreate | capRead | capUpdate | capDelete | capList}},
		},
		{
			name:  "legacy sudo",
			rules: `path "a" { policy = "sudo" }`,
			want:  []pathRule{{path: "a", caps: capCreate | capRead | capUpdate | capDelete | capList | capSudo}},
		},
		{
			name:  "legacy deny",
			rules: `path "a" { policy = "deny" }`,
			want:  []pathRule{{path: "a", caps: capDeny}},
		},
		{
			name:  "all capability names",
			rules: `path "a" { capabilities = ["create","read","update","patch","delete","list","sudo","subscribe","recover"] }`,
			want:  []pathRule{{path: "a", caps: capCreate | capRead | capUpdate | capPatch | capDelete | capList | capSudo | capSubscribe | capRecover}},
		},
		{
			name:  "unenforced vault keys accepted",
			rules: "path \"a\" {\n capabilities = [\"read\"]\n allowed_parameters = { \"x\" = [] }\n min_wrapping_ttl = \"1s\"\n}",
			want:  []pathRule{{path: "a", caps: capRead}},
		},
		{
			name:  "name key and comments",
			rules: "# comment\nname = \"x\"\npath \"a\" { capabilities = [] }",
			want:  []pathRule{{path: "a"}},
		},
		{
			// The HCL decoder appends repeated list attributes, as in Vault.
			name:  "duplicate attribute accepted as vault does",
			rules: `path "a" { capabilities = ["read"] capabilities = ["list"] }`,
			want:  []pathRule{{path: "a", caps: capRead | capList}},
		},
		{
			name:  "json",
			rules: `{"path": {"secret/*": {"capabilities": ["read"]}}}`,
			want:  []pathRule{{path: "secret/", isPrefix: true, caps: capRead}},
		},
		{name: "empty", rules: "  \n", wantErr: "empty rules"},
		{name: "syntax error", rules: `path "a" { capabilities = [`, wantErr: `failed to parse policy "p"`},
		{name: "bad capability", rules: `path "a" { capabilities = ["reed"] }`, wantErr: `invalid capability "reed"`},
		{name: "bad legacy policy", rules: `path "a" { policy = "admin" }`, wantErr: `invalid policy "admin"`},
		{name: "plus star", rules: `path "a/+*" { capabilities = ["read"] }`, wantErr: "'+*' is forbidden"},
		{name: "unknown top-level key", rules: `foo = "bar"`, wantErr: `invalid key "foo"`},
		{name: "unknown path key", rules: `path "a" { capabilitiez = ["read"] }`, wantErr: "invalid key"},
		{name: "path not a block", rules: `path "a" = "read"`, wantErr: "nested object expected"},
		{name: "two path names", rules: `path "a" "b" { capabilities = ["read"] }`, wantErr: "exactly one path"},
		{name: "capabilities not a list", rules: `path "a" { capabilities = 5 }`, wantErr: `failed to parse policy "p"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePolicy("p", tc.rules)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("parsePolicy succeeded, want error containing %q", tc.wantErr)
				}
				if apierr.KindOf(err) != apierr.KindInvalid {
					t.Errorf("error kind = %v, want Invalid", apierr.KindOf(err))
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePolicy: %v", err)
			}
			if len(got.rules) != len(tc.want) {
				t.Fatalf("got %d rules %+v, want %+v", len(got.rules), got.rules, tc.want)
			}
			for i := range tc.want {
				if got.rules[i] != tc.want[i] {
					t.Errorf("rule %d = %+v, want %+v", i, got.rules[i], tc.want[i])
				}
			}
		})
	}
}

func TestDefaultPolicyParses(t *testing.T) {
	p, err := parsePolicy("default", defaultPolicyRules)
	if err != nil {
		t.Fatalf("default policy: %v", err)
	}
	a := newACL([]*parsedPolicy{p})
	for _, c := range []struct {
		path string
		op   Operation
	}{
		{"auth/token/lookup-self", OpRead},
		{"auth/token/renew-self", OpUpdate},
		{"auth/token/revoke-self", OpUpdate},
		{"sys/capabilities-self", OpUpdate},
		{"sys/wrapping/unwrap", OpUpdate},
		{"sys/tools/hash/sha2-256", OpUpdate},
		{"cubbyhole/x", OpCreate},
	} {
		want, _ := c.op.capability()
		if caps, ok := a.capabilitiesFor(c.path, c.op); !ok || caps&want == 0 {
			t.Errorf("default policy does not allow %s on %s", c.op, c.path)
		}
	}
}

func TestSanitizePolicyName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{" Dev-Team ", "dev-team", true},
		{"", "", false},
		{"a/b", "", false},
		{"a\x00", "", false},
		{strings.Repeat("x", maxPolicyNameLen+1), "", false},
	}
	for _, tc := range tests {
		got, err := sanitizePolicyName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("sanitizePolicyName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(`path "secret/*" { capabilities = ["read"] }`)
	f.Add(`path "a/+/b*" { policy = "write" }`)
	f.Add(`{"path": {"x": {"capabilities": ["deny"]}}}`)
	f.Add(defaultPolicyRules)
	f.Add(`path "a" { capabilities = [`)
	f.Add(`path 5 { }`)
	f.Fuzz(func(t *testing.T, rules string) {
		p, err := parsePolicy("fuzz", rules)
		if err != nil {
			if apierr.KindOf(err) != apierr.KindInvalid {
				t.Fatalf("error is not Invalid: %v", err)
			}
			return
		}
		a := newACL([]*parsedPolicy{p})
		for _, r := range p.rules {
			if r.caps&capDeny != 0 && r.caps != capDeny {
				t.Fatalf("deny combined with other capabilities: %+v", r)
			}
			_, _ = a.capabilitiesFor(r.path, OpRead)
			_, _ = a.capabilitiesFor(r.path+"/x", OpList)
		}
	})
}
