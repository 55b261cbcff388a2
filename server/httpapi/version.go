package httpapi

import (
	"fmt"
	"strconv"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/core"
)

const (
	coreVersion = core.Version
	buildDate   = "2026-11-25T00:00:00Z"
)

// parseStatusCode reads a health override code (Vault accepts 100-599).
func parseStatusCode(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("invalid status code %q", s)
	}
	return n, nil
}
