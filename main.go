// Command terraform-provider-vaultrepl is the Terraform provider for
// vaultrepl, served over plugin protocol 6.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/vaultrepl/terraform-provider-vaultrepl/provider"
)

// version is set at build time with -ldflags "-X main.version=1.2.3"
// (GoReleaser and `make build` do this); it is "dev" otherwise.
var version = "dev"

func main() {
	var debug bool

	flag.BoolVar(&debug, "debug", false, "set to true to run the provider with support for debuggers like delve")
	flag.Parse()

	opts := providerserver.ServeOpts{
		Address:         "registry.terraform.io/vaultrepl/vaultrepl",
		Debug:           debug,
		ProtocolVersion: 6,
	}

	if err := providerserver.Serve(context.Background(), provider.New(version), opts); err != nil {
		log.Fatal(err.Error())
	}
}
