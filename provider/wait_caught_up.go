package provider

import (
	"context"
	"fmt"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// waitCaughtUp polls a just enabled (or re-pointed) secondary of family k
// and its primary until the secondary has caught up (k.caughtUp). The
// primary's status needs no token; its address is primaryAPIAddr, else the
// activation token's addr claim, else what the secondary reports in
// primaries[].
func waitCaughtUp(ctx context.Context, c *client.Client, k *replKind, primaryAPIAddr, token string) (*client.DRStatus, string, error) {
	if primaryAPIAddr == "" {
		if claims, err := client.ParseActivationToken(token); err == nil {
			primaryAPIAddr = claims.Addr
		}
	}
	var primary *client.Client
	var final *client.DRStatus
	last, err := poll(ctx, k.words("waiting for the DR secondary to catch up"), func(ctx context.Context) (bool, string, error) {
		st, err := k.status(ctx, c)
		if err != nil {
			return false, "secondary status: " + errorText(err), nil
		}
		final = st
		addr := primaryAPIAddr
		if addr == "" && len(st.Primaries) > 0 {
			addr = st.Primaries[0].APIAddress
		}
		if addr == "" {
			return false, fmt.Sprintf("secondary mode %s state %s; primary API address not known yet", st.Mode, st.State), nil
		}
		if primary == nil || primary.Address() != addr {
			if primary, err = c.WithAddress(addr); err != nil {
				return false, "", fmt.Errorf("primary API address %q: %w", addr, err)
			}
		}
		ps, err := k.status(ctx, primary)
		if err != nil {
			return false, fmt.Sprintf("secondary mode %s state %s; primary status at %s: %s", st.Mode, st.State, addr, errorText(err)), nil
		}
		lag := int64(ps.LastWAL) - int64(st.LastRemoteWAL)
		observed := fmt.Sprintf("secondary mode %s state %s connection %s last_remote_wal %d merkle_root %s; primary last_wal %d merkle_root %s (lag %d WAL entries)",
			st.Mode, st.State, st.ConnectionState, st.LastRemoteWAL, short(st.MerkleRoot), ps.LastWAL, short(ps.MerkleRoot), lag)
		return k.caughtUp(st, ps), observed, nil
	})
	return final, last, err
}

// caughtUp says whether secondary st holds everything its primary ps has.
// A DR secondary holds the primary's whole replicated keyspace, so their
// merkle roots are equal. A performance secondary holds a view of it
// (no tokens, no local mounts, minus its paths filter), so its root
// differs by design; it has caught up when it streams WALs and has
// applied the primary's last WAL index (entries outside its view arrive as
// placeholders that still advance its position).
func (k *replKind) caughtUp(st, ps *client.DRStatus) bool {
	if st.Mode != client.ModeSecondary || st.State != client.StateStreamWALs {
		return false
	}
	if k.client == client.KindPerformance {
		return ps.Mode == client.ModePrimary && st.LastRemoteWAL >= ps.LastWAL
	}
	return ps.MerkleRoot != "" && st.MerkleRoot == ps.MerkleRoot
}
