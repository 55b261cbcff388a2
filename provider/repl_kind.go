package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// replKind is one replication family as the provider presents it. The
// primary, the secondary token (resource and ephemeral) and the status
// data source are one implementation each for both families, which differ
// only in the path prefix and the words: their texts are written once, for
// DR, and say rewrites them for performance replication, as the server
// does with its own messages.
type replKind struct {
	client client.Kind
	// short is the part of the type names after "vaultrepl_" and before the
	// role: "dr" or "performance".
	short string
	say   *strings.Replacer
	title *strings.Replacer
}

var (
	drKind = &replKind{
		client: client.KindDR, short: "dr",
		say: strings.NewReplacer(), title: strings.NewReplacer(),
	}
	performanceKind = &replKind{
		client: client.KindPerformance, short: "performance",
		say: strings.NewReplacer(
			"vaultrepl_dr_", "vaultrepl_performance_",
			"/replication/dr/", "/replication/performance/",
			"DR set", "performance replication set",
			"DR ", "performance ",
		),
		title: strings.NewReplacer("DR ", "Performance "),
	}
)

// words rewrites a text written for DR (sentences, descriptions) into k's.
func (k *replKind) words(s string) string { return k.say.Replace(s) }

// sayf is fmt.Sprintf of a format written for DR, in k's words.
func (k *replKind) sayf(format string, args ...any) string {
	return fmt.Sprintf(k.words(format), args...)
}

// summary rewrites a Title Case diagnostic summary written for DR.
func (k *replKind) summary(s string) string { return k.title.Replace(s) }

// typeName is the resource or data source type for role, e.g.
// typeName("vaultrepl", "primary") = "vaultrepl_performance_primary".
func (k *replKind) typeName(provider, role string) string {
	return provider + "_" + k.short + "_" + role
}

// status reads this family's status on c.
func (k *replKind) status(ctx context.Context, c *client.Client) (*client.DRStatus, error) {
	return c.Replication(k.client).Status(ctx)
}

// clientAndStatus is the package's clientAndStatus for this family.
func (k *replKind) clientAndStatus(ctx context.Context, data *providerData, diags *diag.Diagnostics) (*client.Client, *client.DRStatus) {
	c := clientFor(ctx, data, diags)
	if c == nil {
		return nil, nil
	}
	st, err := k.status(ctx, c)
	if err != nil {
		k.readStatusError(diags, c.Address(), err)
		return nil, nil
	}
	return c, st
}

// readStatusError reports a failed status read of this family.
func (k *replKind) readStatusError(diags *diag.Diagnostics, addr string, err error) {
	apiError(diags, k.summary("Cannot Read DR Replication Status"), k.words("read sys/replication/dr/status"), addr,
		"Check that the cluster is running and unsealed.", err)
}
