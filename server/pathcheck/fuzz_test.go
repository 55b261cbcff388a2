package pathcheck

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzValidate: Validate never panics, and whatever it accepts is valid
// UTF-8 without control characters, within the length and depth limits.
func FuzzValidate(f *testing.F) {
	for _, seed := range []string{"", "secret/a", "a\x00b", "a\nb", "\xff", "secret/+/x/*", "🔑/ключ"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if Validate(p) != nil {
			return
		}
		if !utf8.ValidString(p) || len(p) > MaxBytes || strings.Count(p, "/")+1 > MaxSegments {
			t.Fatalf("accepted %q", p)
		}
		for _, r := range p {
			if unprintable(r) {
				t.Fatalf("accepted %q with %U", p, r)
			}
		}
	})
}
