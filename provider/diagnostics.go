package provider

import (
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// This file keeps the diagnostics that several resources build, so their
// wording stays the same everywhere (summary in Title Case; detail says
// what happened and what to do, then the original error).

// providerDataFrom extracts the provider data handed over by Configure.
// It returns nil (and no error) when the provider is not configured yet,
// as during validation.
func providerDataFrom(data any, diags *diag.Diagnostics) *providerData {
	if data == nil {
		return nil
	}
	pd, ok := data.(*providerData)
	if !ok {
		diags.AddError("Unexpected Provider Data Type",
			fmt.Sprintf("Expected *provider.providerData, got %T. This is a bug in the provider; please report it.", data))
		return nil
	}
	return pd
}

// notConfigured is reported when a CRUD call arrives before Configure.
func notConfigured(diags *diag.Diagnostics) {
	diags.AddError("Provider Not Configured",
		"The vaultrepl provider was not configured before this call. This is a bug in the provider or Terraform; please report it.")
}

// apiError reports a failed call: summary, what the provider was doing at
// which address, advice, and the original error (which never holds a secret).
func apiError(diags *diag.Diagnostics, summary, doing, addr, advice string, err error) {
	detail := fmt.Sprintf("The provider could not %s on the cluster at %s.", doing, addr)
	if advice != "" {
		detail += "\n\n" + advice
	}
	detail += "\n\nOriginal Error: " + errorText(err)
	diags.AddError(summary, detail)
}

// errorText is the server's message for a *client.ResponseError (with its
// status), otherwise the error's text.
func errorText(err error) string {
	var re *client.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("%s %s answered %d: %s", re.Method, "/v1/"+re.Path, re.StatusCode, re.Message())
	}
	return err.Error()
}
