package seal

import (
	"crypto/subtle"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// KeyLen is the length of one key share of a seal with the given threshold:
// with a single share Vault hands out the root key itself, otherwise a
// Shamir share carries one extra byte (its x-coordinate).
func KeyLen(threshold int) int {
	if threshold == 1 {
		return rootKeyLen
	}
	return rootKeyLen + shareOverhead
}

// CheckShare rejects a decoded key share that cannot be part of a correct
// set for a seal with the given threshold, before it counts toward any
// progress: a wrong length, the x-coordinate 0 (which Split never makes),
// or the x-coordinate of a different share already accepted (two such
// shares can never combine). A share equal to an accepted one passes: each
// caller decides what a repeat means. Shares of the right form but wrong
// content cannot be told apart from right ones until the threshold is
// reached; that is Shamir's nature, not something a check can fix.
func CheckShare(share []byte, threshold int, accepted [][]byte) error {
	want := KeyLen(threshold)
	if len(share) != want {
		return apierr.Invalid("key share is %d bytes but this cluster's key shares are %d bytes: submit one of the key shares returned by init", len(share), want)
	}
	if threshold == 1 {
		return nil
	}
	x := share[len(share)-1]
	if x == 0 {
		return apierr.Invalid("key share is malformed (its last byte, the share's x-coordinate, is 0): submit one of the key shares returned by init")
	}
	for _, s := range accepted {
		if len(s) == len(share) && s[len(s)-1] == x && subtle.ConstantTimeCompare(s, share) != 1 {
			return apierr.Invalid("key share has the same x-coordinate as a different key share already submitted, so the two cannot both be correct: submit another of the key shares returned by init")
		}
	}
	return nil
}
