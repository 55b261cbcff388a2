package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// Backoff bounds for the poll loops that wait for replication to converge.
const (
	pollInitial = 200 * time.Millisecond
	pollMax     = 5 * time.Second
)

// poll calls check until it reports done, fails, or ctx ends (the
// resource's timeout). Between calls it waits with exponential backoff.
// check returns a short description of what it saw, which is logged each
// round and returned as the last observation when ctx ends.
func poll(ctx context.Context, what string, check func(ctx context.Context) (done bool, observed string, err error)) (last string, err error) {
	wait := pollInitial
	for round := 1; ; round++ {
		done, observed, err := check(ctx)
		if err != nil {
			return observed, err
		}
		if observed != "" {
			last = observed
		}
		if done {
			tflog.Info(ctx, what+": done", map[string]any{"round": round, "observed": last})
			return last, nil
		}
		tflog.Info(ctx, what+": waiting", map[string]any{"round": round, "observed": last, "next_check_in": wait.String()})
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return last, ctx.Err()
		case <-timer.C:
		}
		wait = min(wait*3/2, pollMax)
	}
}
