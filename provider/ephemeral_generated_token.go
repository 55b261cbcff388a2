package provider

import (
	"context"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// The share-driven ephemeral resources (vaultrepl_dr_operation_token,
// vaultrepl_root_token) take key shares, generate a token in Open and hand
// it to Close through the private data, which Terraform keeps for the run
// only, so that Close can revoke it.

// keySharesAttribute is the key_shares argument: sensitive, at least one
// non-empty share.
func keySharesAttribute(description string) schema.ListAttribute {
	return schema.ListAttribute{
		MarkdownDescription: description,
		ElementType:         types.StringType,
		Required:            true,
		Sensitive:           true,
		Validators: []validator.List{
			listvalidator.SizeAtLeast(1),
			listvalidator.ValueStringsAre(stringvalidator.LengthAtLeast(1)),
		},
	}
}

// keySharesOf reads key_shares; nil when diags has an error.
func keySharesOf(ctx context.Context, l types.List, diags *diag.Diagnostics) []string {
	var shares []string
	diags.Append(l.ElementsAs(ctx, &shares, false)...)
	if diags.HasError() {
		return nil
	}
	return shares
}

// privateSetter and privateGetter are the parts of the framework's private
// data (an internal type) that Open and Close use.
type (
	privateSetter interface {
		SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
	}
	privateGetter interface {
		GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
	}
)

// recordGeneratedToken keeps token under key for Close. Open records it
// before setting its result, so that Close revokes it even if that fails.
func recordGeneratedToken(ctx context.Context, p privateSetter, key, token string, diags *diag.Diagnostics) {
	raw, err := json.Marshal(token)
	if err != nil {
		diags.AddError("Cannot Record Generated Token", "Encoding the private data of the ephemeral resource failed: "+err.Error())
		return
	}
	diags.Append(p.SetKey(ctx, key, raw)...)
}

// generatedToken is the token Open recorded under key; "" when Open
// generated none (nothing to revoke) or the record is unreadable (then
// with a warning).
func generatedToken(ctx context.Context, p privateGetter, key string, diags *diag.Diagnostics) string {
	raw, d := p.GetKey(ctx, key)
	diags.Append(d...)
	if raw == nil || diags.HasError() {
		return ""
	}
	var token string
	if err := json.Unmarshal(raw, &token); err != nil || token == "" {
		diags.AddWarning("Cannot Read Generated Token Record", "The private data of the ephemeral resource could not be decoded.")
		return ""
	}
	return token
}
