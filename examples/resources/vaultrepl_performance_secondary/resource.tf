provider "vaultrepl" {
  alias   = "east"
  address = "https://vault-east.example.com:8200"
}

# The provider's token for vault-eu is one of its own tokens from before
# the enable: enabling wipes them all.
provider "vaultrepl" {
  alias   = "eu"
  address = "https://vault-eu.example.com:8200"
}

resource "vaultrepl_performance_primary" "east" {
  provider = vaultrepl.east
}

# Terraform 1.11 and later: the activation token lives for this run only.
ephemeral "vaultrepl_performance_secondary_token" "eu" {
  provider     = vaultrepl.east
  secondary_id = "perf-eu"

  depends_on = [vaultrepl_performance_primary.east]
}

# WIPES vault-eu's replicated data and tokens and replaces the data with
# vault-east's view; waits until it streams at the primary's last WAL index.
# From then on vault-eu unseals with vault-east's key shares, and its root
# token comes from those shares: `vault operator generate-root`, or for one
# run the ephemeral vaultrepl_root_token.
resource "vaultrepl_performance_secondary" "eu" {
  provider         = vaultrepl.eu
  token_wo         = ephemeral.vaultrepl_performance_secondary_token.eu.token
  token_wo_version = 1

  timeouts = {
    create = "15m"
  }
}
