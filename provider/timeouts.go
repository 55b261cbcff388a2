package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
)

// createTimeoutAttribute is the `timeouts = { create = "..." }` attribute
// of a resource that waits after creating, with a description of what it
// bounds.
func createTimeoutAttribute(ctx context.Context, waitsFor, def string) schema.Attribute {
	attr := timeouts.Attributes(ctx, timeouts.Opts{
		Create:            true,
		CreateDescription: "How long to wait for " + waitsFor + ", as a Go duration such as `30s`, `10m` or `1h`. Defaults to `" + def + "`.",
	})
	if nested, ok := attr.(schema.SingleNestedAttribute); ok {
		nested.MarkdownDescription = "Timeouts for the operations that wait. `create` bounds the wait for " + waitsFor + "."
		return nested
	}
	return attr
}
