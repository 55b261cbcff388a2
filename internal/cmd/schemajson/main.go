// Command schemajson writes the provider's schema in the JSON form of
// `terraform providers schema -json` (terraform-json's ProviderSchemas),
// taken from the provider server itself rather than from a Terraform CLI.
//
// `make generate` feeds it to `tfplugindocs generate --providers-schema`, so
// the docs render the same whatever Terraform is installed: Terraform 1.8
// (the one the GNUmakefile builds when none is on PATH) knows neither
// ephemeral resources nor write-only attributes, and would leave them out.
//
// Usage:
//
//	go run ./internal/cmd/schemajson -o schema.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/vaultrepl/terraform-provider-vaultrepl/provider"
)

// providerAddress is the key tfplugindocs looks the schema up by when its
// --provider-name is "vaultrepl" (the address Terraform itself would use
// for a provider it builds and loads by that short name).
const providerAddress = "registry.terraform.io/hashicorp/" + provider.TypeName

func main() {
	out := flag.String("o", "-", "file to write the JSON to (- for stdout)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "schemajson:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	schemas, err := providerSchemas(context.Background(), providerAddress, provider.New("docs"))
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(schemas, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the schema: %w", err)
	}
	raw = append(raw, '\n')
	if out == "-" {
		_, err = os.Stdout.Write(raw)
		return err
	}
	if err := os.WriteFile(out, raw, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
