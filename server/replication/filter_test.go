package replication

import (
	"slices"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

func TestNewPathsFilter(t *testing.T) {
	f, err := NewPathsFilter(FilterDeny, []string{"kv-b", "/secret/", "kv-b/"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Paths, []string{"kv-b/", "secret/"}) {
		t.Fatalf("normalised paths: %v", f.Paths)
	}
	bad := []struct {
		mode  string
		paths []string
	}{
		{"", []string{"secret/"}},
		{"block", []string{"secret/"}},
		{FilterAllow, nil},
		{FilterAllow, []string{""}},
		{FilterAllow, []string{"/"}},
		{FilterAllow, []string{"secret/*"}},
		{FilterAllow, []string{"sys/"}},
		{FilterDeny, make([]string, maxFilterPaths+1)},
	}
	for _, tc := range bad {
		if _, err := NewPathsFilter(tc.mode, tc.paths); apierr.KindOf(err) != apierr.KindInvalid {
			t.Errorf("NewPathsFilter(%q, %d paths): want a 400, got %v", tc.mode, len(tc.paths), err)
		}
	}
}

// TestPerformanceExcludes: the keyspace split of a performance secondary.
func TestPerformanceExcludes(t *testing.T) {
	tokens := []string{"auth/token/id/", "auth/token/accessor/", "auth/token/parent/"}
	table := []MountRef{
		{Path: "secret/", Prefix: "logical/secret/"},
		{Path: "kv-a/", Prefix: "logical/aaaa/"},
		{Path: "kv-b/", Prefix: "logical/bbbb/"},
		{Path: "local-kv/", Prefix: "logical/llll/", Local: true},
	}
	always := map[string]bool{
		"auth/token/id/x":       true,
		"auth/token/accessor/y": true,
		"auth/token/parent/z/w": true,
		"logical/llll/k":        true,
		"auth/token/roles/r":    false, // roles replicate, as in Vault
		"sys/policy/p":          false,
		"core/mounts":           false,
		"core/seal-config":      false,
	}
	cases := []struct {
		name   string
		filter *PathsFilter
		// data of secret/, kv-a/, kv-b/ excluded?
		want [3]bool
	}{
		{"no filter", nil, [3]bool{false, false, false}},
		{"deny kv-b", &PathsFilter{Mode: FilterDeny, Paths: []string{"kv-b/"}}, [3]bool{false, false, true}},
		{"allow kv-a", &PathsFilter{Mode: FilterAllow, Paths: []string{"kv-a/"}}, [3]bool{true, false, true}},
	}
	for _, tc := range cases {
		excluded := performanceExcludes(tokens, table, tc.filter)
		for key, want := range always {
			if got := excluded(key); got != want {
				t.Errorf("%s: %s excluded = %v, want %v", tc.name, key, got, want)
			}
		}
		for i, key := range []string{"logical/secret/k", "logical/aaaa/k", "logical/bbbb/k"} {
			if got := excluded(key); got != tc.want[i] {
				t.Errorf("%s: %s excluded = %v, want %v", tc.name, key, got, tc.want[i])
			}
		}
	}
}
