// Package pathcheck decides whether a logical path (a KV key, a policy name,
// a policy's path pattern) is one the server stores and serves: every key it
// accepts can be listed, printed and addressed again.
package pathcheck

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxBytes bounds a logical path (mount included) in bytes. Vault sets no
	// limit of its own; 1 KiB is far above real keys and keeps a key, its
	// storage row and every log line that names it small.
	MaxBytes = 1024
	// MaxSegments bounds the number of "/"-separated segments, so a path
	// cannot be made deep enough to cost more than its length.
	MaxSegments = 64
)

// Error says what is wrong with a path; its text names the limit or the
// offending character and is safe to show to the client.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// Validate reports why p is not an acceptable logical path, or nil. It
// accepts valid UTF-8 with no control characters (C0, DEL, C1) and no line
// or paragraph separators, of at most MaxBytes bytes and MaxSegments
// segments. An empty path is valid (it names a mount's root).
func Validate(p string) error {
	if len(p) > MaxBytes {
		return &Error{fmt.Sprintf("path is %d bytes long; the limit is %d bytes", len(p), MaxBytes)}
	}
	if n := strings.Count(p, "/") + 1; n > MaxSegments {
		return &Error{fmt.Sprintf("path has %d segments; the limit is %d", n, MaxSegments)}
	}
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		if r == utf8.RuneError && size <= 1 {
			return &Error{fmt.Sprintf("path is not valid UTF-8 (byte 0x%02x at offset %d)", p[i], i)}
		}
		if unprintable(r) {
			return &Error{fmt.Sprintf("path contains the control character %U at offset %d; paths must be printable", r, i)}
		}
		i += size
	}
	return nil
}

// unprintable is true for characters that would make a key unreadable or
// ambiguous when listed: control characters and line/paragraph separators.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}
