# Mint an activation token for "dr-west" on the primary, for this run only,
# and enable vault-west with it (Terraform 1.11 and later). A token a plan
# mints, or one nobody used, is revoked when the run ends; once "dr-west" is
# admitted, later runs mint nothing (already_admitted = true, token = null).
ephemeral "vaultrepl_dr_secondary_token" "west" {
  provider     = vaultrepl.east
  secondary_id = "dr-west"
  ttl          = "30m"

  depends_on = [vaultrepl_dr_primary.east]
}

resource "vaultrepl_dr_secondary" "west" {
  provider         = vaultrepl.west
  token_wo         = ephemeral.vaultrepl_dr_secondary_token.west.token
  token_wo_version = 1
}
