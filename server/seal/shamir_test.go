package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// testRand returns a deterministic randomness source.
func testRand(seed uint64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// refMul is an independent reference multiplication (log/exp tables with
// generator 3 over the same AES polynomial) to check gfMul against.
func refTables() (logT, expT [256]byte) {
	x := byte(1)
	for i := range 255 {
		expT[i] = x
		logT[x] = byte(i)
		// x *= 3: x*2 with reduction, plus x.
		hi := x & 0x80
		x2 := x << 1
		if hi != 0 {
			x2 ^= 0x1b
		}
		x = x2 ^ x
	}
	return
}

func TestGFArithmetic(t *testing.T) {
	logT, expT := refTables()
	for a := range 256 {
		for b := range 256 {
			want := byte(0)
			if a != 0 && b != 0 {
				want = expT[(int(logT[a])+int(logT[b]))%255]
			}
			if got := gfMul(byte(a), byte(b)); got != want {
				t.Fatalf("gfMul(%d,%d) = %d, want %d", a, b, got, want)
			}
		}
	}
	for a := 1; a < 256; a++ {
		if p := gfMul(byte(a), gfInv(byte(a))); p != 1 {
			t.Fatalf("a*inv(a) = %d for a=%d", p, a)
		}
	}
}

// subsets calls f with every k-element subset of 0..n-1.
func subsets(n, k int, f func([]int)) {
	idx := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			f(idx)
			return
		}
		for i := start; i < n; i++ {
			idx[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
}

func pick(shares [][]byte, idx []int) [][]byte {
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = shares[j]
	}
	return out
}

func TestSplitCombineRoundTrip(t *testing.T) {
	type tc struct{ parts, threshold, secretLen int }
	var cases []tc
	for parts := 2; parts <= 7; parts++ {
		for th := 2; th <= parts; th++ {
			cases = append(cases, tc{parts, th, 32})
		}
	}
	cases = append(cases,
		tc{10, 3, 1}, tc{16, 9, 17}, tc{50, 25, 33}, tc{255, 2, 32}, tc{255, 255, 8}, tc{255, 128, 32},
	)
	for i, c := range cases {
		t.Run(fmt.Sprintf("n=%d,t=%d,len=%d", c.parts, c.threshold, c.secretLen), func(t *testing.T) {
			r := testRand(uint64(i) + 1)
			secret := make([]byte, c.secretLen)
			_, _ = io.ReadFull(r, secret)
			shares, err := Split(secret, c.parts, c.threshold, r)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if len(shares) != c.parts {
				t.Fatalf("got %d shares, want %d", len(shares), c.parts)
			}
			seen := map[byte]bool{}
			for _, s := range shares {
				if len(s) != c.secretLen+1 {
					t.Fatalf("share length %d, want %d", len(s), c.secretLen+1)
				}
				x := s[len(s)-1]
				if x == 0 || seen[x] {
					t.Fatalf("bad or duplicate x-coordinate %d", x)
				}
				seen[x] = true
			}

			check := func(idx []int) {
				t.Helper()
				got, err := Combine(pick(shares, idx))
				if err != nil {
					t.Fatalf("Combine%v: %v", idx, err)
				}
				if !bytes.Equal(got, secret) {
					t.Fatalf("Combine%v gave a different secret", idx)
				}
			}
			if c.parts <= 7 {
				subsets(c.parts, c.threshold, check)
				// More shares than the threshold also reconstruct.
				all := make([]int, c.parts)
				for i := range all {
					all[i] = i
				}
				check(all)
			} else {
				pr := rand.New(rand.NewPCG(uint64(i), 7))
				for range 5 {
					check(pr.Perm(c.parts)[:c.threshold])
				}
			}

			// Fewer than threshold shares (but at least two) must not
			// reveal the secret; with >= 8 bytes a chance match is negligible.
			if c.threshold > 2 && c.secretLen >= 8 {
				subsets(min(c.parts, 7), c.threshold-1, func(idx []int) {
					got, err := Combine(pick(shares, idx))
					if err != nil {
						t.Fatalf("Combine%v: %v", idx, err)
					}
					if bytes.Equal(got, secret) {
						t.Fatalf("%d of %d threshold shares reconstructed the secret", len(idx), c.threshold)
					}
				})
			}
		})
	}
}

func TestSplitDeterministic(t *testing.T) {
	secret := []byte("same seed, same shares")
	a, err := Split(secret, 5, 3, testRand(42))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Split(secret, 5, 3, testRand(42))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("share %d differs between runs with the same seed", i)
		}
	}
	// All 255 x-coordinates are used when parts is 255.
	all, err := Split([]byte{1}, 255, 2, testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	var seen [256]bool
	for _, s := range all {
		seen[s[1]] = true
	}
	for x := 1; x < 256; x++ {
		if !seen[x] {
			t.Fatalf("x-coordinate %d unused with 255 parts", x)
		}
	}
}

// TestVaultCompatibility combines shares produced by HashiCorp Vault's
// shamir.Split (vault v1.21.4) for the secret "vaultrepl interop vector".
func TestVaultCompatibility(t *testing.T) {
	vaultShares := []string{
		"8b3d959a2bb3c0e20841efc9dfcd6ddae5aa943ec9ff4ea41b",
		"9afdbb90a9fee7e080fbe9c1e927f46a940ebdc41ed2400a21",
		"d264d183cc79387a9697ea82184d3f5c0eaaf97527ce00cb46",
		"0e90bd7782e8ebfbb5db84d57e3a397966daaf271c7639908d",
		"72686e1c24103c9452c9d62c982c10d22290be43b2649206a4",
	}
	shares := make([][]byte, len(vaultShares))
	for i, h := range vaultShares {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		shares[i] = b
	}
	subsets(5, 3, func(idx []int) {
		got, err := Combine(pick(shares, idx))
		if err != nil {
			t.Fatalf("Combine%v: %v", idx, err)
		}
		if string(got) != "vaultrepl interop vector" {
			t.Fatalf("Combine%v = %q", idx, got)
		}
	})
}

func TestSplitInvalid(t *testing.T) {
	tests := []struct {
		name              string
		secret            []byte
		parts, threshold  int
		random            io.Reader
		wantErrSubstrings string
	}{
		{"empty secret", nil, 3, 2, testRand(1), "empty secret"},
		{"threshold 1", []byte("s"), 3, 1, testRand(1), "at least 2"},
		{"threshold 0", []byte("s"), 3, 0, testRand(1), "at least 2"},
		{"parts below threshold", []byte("s"), 2, 3, testRand(1), "less than threshold"},
		{"parts above 255", []byte("s"), 256, 2, testRand(1), "cannot exceed 255"},
		{"threshold above 255", []byte("s"), 256, 256, testRand(1), "cannot exceed 255"},
		{"nil reader", []byte("s"), 3, 2, nil, "randomness"},
		{"short reader", []byte("secret"), 3, 2, bytes.NewReader(make([]byte, 10)), "random"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.secret, tt.parts, tt.threshold, tt.random)
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstrings) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErrSubstrings)
			}
		})
	}
	// A reader failure is wrapped, not swallowed.
	boom := errors.New("boom")
	if _, err := Split([]byte("s"), 3, 2, io.MultiReader(errReader{boom})); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping boom", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestCombineInvalid(t *testing.T) {
	good, err := Split([]byte("secret"), 3, 2, testRand(3))
	if err != nil {
		t.Fatal(err)
	}
	dupX := bytes.Clone(good[1])
	dupX[len(dupX)-1] = good[0][len(good[0])-1]
	zeroX := bytes.Clone(good[1])
	zeroX[len(zeroX)-1] = 0
	tests := []struct {
		name   string
		shares [][]byte
		want   string
	}{
		{"none", nil, "at least two"},
		{"one", good[:1], "at least two"},
		{"too short", [][]byte{{1}, {2}}, "at least two bytes"},
		{"unequal lengths", [][]byte{good[0], good[1][1:]}, "same length"},
		{"duplicate x", [][]byte{good[0], dupX}, "same x-coordinate"},
		{"same share twice", [][]byte{good[0], good[0]}, "same x-coordinate"},
		{"zero x", [][]byte{good[0], zeroX}, "x-coordinate 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Combine(tt.shares)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
		})
	}
}
