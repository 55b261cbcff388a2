package auth

import "testing"

func TestSegmentReaches(t *testing.T) {
	for _, tt := range []struct {
		rule, mount string
		want        bool
	}{
		{"+/data/*", "kv/", true},
		{"team/+/data", "team/kv/", true},
		{"team/+/data", "other/kv/", false},
		{"+", "team/kv/", false}, // matches "team" only, above the mount
		{"+/kv*", "team/kvstore/", true},
		{"+/*", "team/kv/", true},
	} {
		if got := segmentReaches(tt.rule, tt.mount); got != tt.want {
			t.Errorf("segmentReaches(%q, %q) = %v, want %v", tt.rule, tt.mount, got, tt.want)
		}
	}
}
