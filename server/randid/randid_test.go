package randid

import (
	"bytes"
	"crypto/rand"
	"regexp"
	"testing"
)

func TestBase62RejectsBiasedBytes(t *testing.T) {
	// 248..255 would bias the result: they are skipped, the rest map b%62.
	src := bytes.NewReader(append([]byte{248, 255, 0, 61, 62, 247}, make([]byte, 64)...))
	got, err := Base62(src, 4)
	if err != nil || got != "0z0z" {
		t.Fatalf("Base62 = %q, %v; want \"0z0z\"", got, err)
	}
}

func TestBase62ShapeAndShortSource(t *testing.T) {
	s, err := Base62(rand.Reader, 24)
	if err != nil || !regexp.MustCompile(`^[0-9A-Za-z]{24}$`).MatchString(s) {
		t.Fatalf("Base62 = %q, %v", s, err)
	}
	if _, err := Base62(bytes.NewReader(nil), 4); err == nil {
		t.Fatal("an empty random source gave an id")
	}
	if _, err := Base62(nil, 4); err == nil {
		t.Fatal("a nil random source gave an id")
	}
}

func TestUUID(t *testing.T) {
	u, err := UUID(rand.Reader)
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(u) {
		t.Fatalf("UUID = %q, %v", u, err)
	}
	if _, err := UUID(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Fatal("a short random source gave a uuid")
	}
}
