// Package e2e holds end-to-end tests that drive the real binaries: the
// provider built with `go build` and loaded by the real Terraform (or
// OpenTofu) CLI through a CLI configuration with dev_overrides, one provider
// process per alias, against live vaultrepl-server processes.
//
// They live apart from provider/ because they test nothing inside the
// provider package: they only exec programs and ask the servers' API. Being
// a package of their own also lets `make test-e2e` and `make test-tofu` run
// the same test with either CLI (VAULTREPL_TF_CLI), and keeps them out of
// reach of the in-process provider factories, which would send every alias's
// Configure to one process.
//
// The tests skip unless TF_ACC is set. VAULTREPL_TF_CLI names the CLI
// (default terraform, found on PATH; or tofu, or a path), and
// VAULTREPL_E2E_TF_LOG=trace writes the CLI's and the provider's logs to
// $TMPDIR/vaultrepl-e2e-<cli>.log.
package e2e
