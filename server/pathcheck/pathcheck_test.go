package pathcheck

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, path, want string // want: "" for valid, else a substring of the error
	}{
		{"empty", "", ""},
		{"plain key", "secret/app/db", ""},
		{"folder", "secret/app/", ""},
		{"spaces and unicode", "secret/mon fichier/ключ/🔑", ""},
		{"policy glob", "secret/+/data/*", ""},
		{"at the length limit", strings.Repeat("a", MaxBytes), ""},
		{"at the depth limit", strings.Repeat("a/", MaxSegments-1) + "a", ""},
		{"NUL", "secret/a\x00b", "U+0000"},
		{"newline", "secret/a\nb", "U+000A"},
		{"DEL", "secret/a\x7f", "U+007F"},
		{"C1 control", "secret/a\u0085", "U+0085"},
		{"line separator", "secret/a\u2028", "U+2028"},
		{"invalid UTF-8", "secret/\xff", "not valid UTF-8"},
		{"truncated UTF-8", "secret/\xe2\x82", "not valid UTF-8"},
		{"too long", strings.Repeat("a", MaxBytes+1), "limit is 1024 bytes"},
		{"too deep", strings.Repeat("a/", MaxSegments) + "a", "limit is 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.path)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate(%q) = %v, want valid", tt.path, err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate(%q) accepted an invalid path", tt.path)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate(%q) = %q, want it to mention %q", tt.path, err, tt.want)
			}
		})
	}
}
