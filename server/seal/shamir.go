package seal

import (
	"errors"
	"fmt"
	"io"
)

// The share format and field are those of HashiCorp Vault's shamir package,
// so that shares produced here can be combined by Vault tooling and the other
// way round: GF(2^8) with the AES reduction polynomial x^8+x^4+x^3+x+1, and
// every share is the evaluations for each secret byte followed by a single
// trailing byte holding the (nonzero, distinct, random) x-coordinate.

// shareOverhead is the number of bytes a share is longer than its secret.
const shareOverhead = 1

// maxParts is the number of nonzero elements of GF(2^8), i.e. the number of
// distinct x-coordinates a share can have.
const maxParts = 255

// gfMul multiplies in GF(2^8) without data-dependent branches or table
// lookups, so that the time taken does not depend on key material
// (log/exp tables would index memory by secret bytes, a cache side channel).
func gfMul(a, b uint8) uint8 {
	var r uint8
	for i := 7; i >= 0; i-- {
		// Shift r left, reducing by 0x1b when the high bit falls off, then add
		// a when bit i of b is set; the masks replace both branches.
		r = (r << 1) ^ (-(r >> 7) & 0x1b) ^ (-((b >> uint(i)) & 1) & a)
	}
	return r
}

// gfInv returns a^-1 as a^254 (the multiplicative group has order 255), a
// fixed sequence of multiplications so it is as branch-free as gfMul.
// gfInv(0) is 0, which callers must never rely on.
func gfInv(a uint8) uint8 {
	// Square-and-multiply over the bits of 254 = 0b11111110.
	result := uint8(1)
	base := a
	for e := uint8(254); e != 0; e >>= 1 {
		// Always compute the product and select it by mask, to keep the
		// sequence of operations independent of the exponent's bits too.
		prod := gfMul(result, base)
		mask := -(e & 1)
		result = (prod & mask) | (result &^ mask)
		base = gfMul(base, base)
	}
	return result
}

// Split divides secret into parts shares, any threshold of which recombine
// to it with Combine. Randomness (polynomial coefficients and x-coordinates)
// is read from random so that tests can be deterministic; production code
// passes crypto/rand.Reader.
func Split(secret []byte, parts, threshold int, random io.Reader) ([][]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("shamir: cannot split an empty secret")
	case threshold < 2:
		return nil, fmt.Errorf("shamir: threshold (%d) must be at least 2", threshold)
	case parts < threshold:
		return nil, fmt.Errorf("shamir: parts (%d) cannot be less than threshold (%d)", parts, threshold)
	case parts > maxParts:
		return nil, fmt.Errorf("shamir: parts (%d) cannot exceed %d", parts, maxParts)
	case random == nil:
		return nil, errors.New("shamir: no source of randomness")
	}

	xs, err := randomXCoordinates(parts, random)
	if err != nil {
		return nil, err
	}

	// One polynomial of degree threshold-1 per secret byte; the intercept is
	// the secret byte, the other coefficients are read in one go.
	degree := threshold - 1
	coeffs := make([]byte, len(secret)*degree)
	defer clear(coeffs)
	if _, err := io.ReadFull(random, coeffs); err != nil {
		return nil, fmt.Errorf("shamir: read random coefficients: %w", err)
	}

	out := make([][]byte, parts)
	for i := range out {
		share := make([]byte, len(secret)+shareOverhead)
		x := xs[i]
		for idx, s := range secret {
			c := coeffs[idx*degree : (idx+1)*degree]
			// Horner's rule from the highest coefficient down to the intercept.
			y := c[degree-1]
			for k := degree - 2; k >= 0; k-- {
				y = gfMul(y, x) ^ c[k]
			}
			share[idx] = gfMul(y, x) ^ s
		}
		share[len(secret)] = x
		out[i] = share
	}
	return out, nil
}

// randomXCoordinates draws n distinct values from 1..255 uniformly, with a
// partial Fisher-Yates shuffle driven by rejection-sampled random bytes (a
// plain modulo would bias the choice).
func randomXCoordinates(n int, random io.Reader) ([]byte, error) {
	var pool [maxParts]byte
	for i := range pool {
		pool[i] = byte(i + 1)
	}
	var buf [64]byte
	next := len(buf)
	nextByte := func() (byte, error) {
		if next == len(buf) {
			if _, err := io.ReadFull(random, buf[:]); err != nil {
				return 0, fmt.Errorf("shamir: read random x-coordinates: %w", err)
			}
			next = 0
		}
		b := buf[next]
		next++
		return b, nil
	}
	for i := 0; i < n && i < maxParts-1; i++ {
		span := maxParts - i // choose uniformly among pool[i:]
		limit := 256 - 256%span
		var j int
		for {
			b, err := nextByte()
			if err != nil {
				return nil, err
			}
			if int(b) < limit {
				j = i + int(b)%span
				break
			}
		}
		pool[i], pool[j] = pool[j], pool[i]
	}
	out := make([]byte, n)
	copy(out, pool[:n])
	return out, nil
}

// Combine reconstructs the secret from shares produced by Split. With fewer
// than the threshold number of shares it returns a wrong secret without any
// error: Shamir sharing cannot detect that, so callers must verify the result.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, errors.New("shamir: at least two shares are needed to reconstruct the secret")
	}
	n := len(shares[0])
	if n < 1+shareOverhead {
		return nil, errors.New("shamir: shares must be at least two bytes long")
	}
	if len(shares) > maxParts {
		return nil, fmt.Errorf("shamir: at most %d shares can be combined", maxParts)
	}
	xs := make([]byte, len(shares))
	var seen [256]bool
	for i, s := range shares {
		if len(s) != n {
			return nil, errors.New("shamir: all shares must be the same length")
		}
		x := s[n-1]
		if x == 0 {
			return nil, errors.New("shamir: a share has x-coordinate 0, which Split never produces")
		}
		if seen[x] {
			return nil, errors.New("shamir: two shares have the same x-coordinate")
		}
		seen[x] = true
		xs[i] = x
	}

	// Lagrange basis values at x=0 depend only on the x-coordinates, so they
	// are computed once for all secret bytes:
	// l_i(0) = prod_{j!=i} x_j / (x_j - x_i), and subtraction is XOR.
	basis := make([]byte, len(shares))
	for i := range xs {
		l := uint8(1)
		for j := range xs {
			if i == j {
				continue
			}
			l = gfMul(l, gfMul(xs[j], gfInv(xs[j]^xs[i])))
		}
		basis[i] = l
	}

	secret := make([]byte, n-shareOverhead)
	for idx := range secret {
		var v uint8
		for i, s := range shares {
			v ^= gfMul(s[idx], basis[i])
		}
		secret[idx] = v
	}
	return secret, nil
}
