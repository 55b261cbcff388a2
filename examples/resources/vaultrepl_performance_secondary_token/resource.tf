# Admit the performance secondary "perf-eu" on the performance primary. The
# token is stored in the state: with Terraform 1.11 and later prefer the
# ephemeral resource of the same name and token_wo.
resource "vaultrepl_performance_secondary_token" "eu" {
  provider     = vaultrepl.east
  secondary_id = "perf-eu"
  ttl          = "30m"

  depends_on = [vaultrepl_performance_primary.east]
}
