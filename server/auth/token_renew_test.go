package auth

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// TestRenewNeverResurrectsARevokedToken races renewals against the
// revocation of the same token: once both are done the token and its
// accessor are gone, whichever ran first.
func TestRenewNeverResurrectsARevokedToken(t *testing.T) {
	m, _, _ := newTestManager(t)
	ctx := context.Background()
	root := mustRoot(t, m)
	const rounds = 20
	for i := range rounds {
		tok := mustCreate(t, m, root, true, CreateRequest{Policies: []string{"default"}, TTL: time.Hour})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, err := m.Renew(ctx, tok.ID, time.Hour)
				if err != nil && apierr.KindOf(err) != apierr.KindInvalid {
					t.Errorf("round %d: Renew: %v", i, err)
				}
			})
		}
		wg.Go(func() {
			if err := m.Revoke(ctx, tok.ID); err != nil {
				t.Errorf("round %d: Revoke: %v", i, err)
			}
		})
		wg.Wait()
		if _, err := m.Lookup(ctx, tok.ID); apierr.KindOf(err) != apierr.KindPermissionDenied {
			t.Fatalf("round %d: revoked token still looks up: %v", i, err)
		}
		if _, err := m.LookupAccessor(ctx, tok.Accessor); apierr.KindOf(err) != apierr.KindInvalid {
			t.Fatalf("round %d: revoked token's accessor still resolves: %v", i, err)
		}
		if raw, err := m.readToken(ctx, HashID(tok.ID)); err != nil || raw != nil {
			t.Fatalf("round %d: token record after revoke = %+v, %v", i, raw, err)
		}
	}
}

// TestRenewTTLRules: Vault's CalculateTTL for tokens, on a fake clock.
func TestRenewTTLRules(t *testing.T) {
	m, _, clk := newTestManager(t)
	ctx := context.Background()
	root := mustRoot(t, m)
	tok := mustCreate(t, m, root, true, CreateRequest{Policies: []string{"default"}, TTL: 30 * time.Minute, ExplicitMaxTTL: time.Hour})

	clk.advance(20 * time.Minute)
	rn, err := m.Renew(ctx, tok.ID, 0)
	if err != nil || rn.TTL != 30*time.Minute || len(rn.Warnings) != 0 {
		t.Fatalf("Renew without increment = %+v, %v; want the creation TTL again", rn, err)
	}
	if want := clk.now().Add(30 * time.Minute); !rn.Token.ExpireTime.Equal(want) {
		t.Fatalf("expire time %v, want %v", rn.Token.ExpireTime, want)
	}
	clk.advance(20 * time.Minute)
	rn, err = m.Renew(ctx, tok.ID, time.Hour)
	if err != nil || rn.TTL != 20*time.Minute || len(rn.Warnings) != 1 {
		t.Fatalf("Renew past the explicit max = %+v, %v; want the 20m left and a warning", rn, err)
	}
	if rn.Warnings[0] != `TTL of "1h" exceeded the effective max_ttl of "20m"; TTL value is capped accordingly` {
		t.Fatalf("warning %q", rn.Warnings[0])
	}
	if _, err := m.Renew(ctx, root.ID, 0); apierr.KindOf(err) != apierr.KindInvalid {
		t.Fatalf("Renew of a never-expiring root token: %v, want Invalid", err)
	}
	clk.advance(21 * time.Minute)
	if _, err := m.Renew(ctx, tok.ID, 0); apierr.KindOf(err) != apierr.KindInvalid {
		t.Fatalf("Renew of an expired token: %v, want Invalid", err)
	}
}
