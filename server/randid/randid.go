// Package randid makes the random identifiers the server hands out: base62
// strings (token ids, accessors, one-time passwords) and version 4 UUIDs
// (cluster ids, nonces, request ids). The random source is the caller's, so
// tests can pass a deterministic one.
package randid

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// rejectFrom is the first byte value that would bias b%62 (4*62 = 248):
// such bytes are skipped, not reduced.
const rejectFrom = 256 - 256%len(base62)

// Base62 returns n characters drawn uniformly from [0-9A-Za-z].
func Base62(r io.Reader, n int) (string, error) {
	if r == nil {
		return "", errors.New("generate random id: no random source")
	}
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8) // ~3% of bytes are rejected: one read usually suffices
	defer clear(buf)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("generate random id: %w", err)
		}
		for _, b := range buf {
			if int(b) >= rejectFrom {
				continue
			}
			out = append(out, base62[int(b)%len(base62)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// UUID returns a random RFC 4122 version 4 UUID.
func UUID(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("generate uuid: no random source")
	}
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("generate uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}
