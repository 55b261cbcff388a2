# Mint a performance activation token for "perf-eu" for this run only, and
# enable vault-eu with it (Terraform 1.11 and later). A token nobody used is
# revoked when the run ends; once "perf-eu" is admitted, later runs mint
# nothing (already_admitted = true, token = null).
ephemeral "vaultrepl_performance_secondary_token" "eu" {
  provider     = vaultrepl.east
  secondary_id = "perf-eu"
  ttl          = "30m"

  depends_on = [vaultrepl_performance_primary.east]
}

resource "vaultrepl_performance_secondary" "eu" {
  provider         = vaultrepl.eu
  token_wo         = ephemeral.vaultrepl_performance_secondary_token.eu.token
  token_wo_version = 1
}
