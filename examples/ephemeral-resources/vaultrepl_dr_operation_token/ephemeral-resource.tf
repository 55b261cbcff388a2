# Re-point vault-east, a demoted former primary (a DR secondary now), to the
# new primary vault-west without a wipe. update-primary needs a DR operation
# token of vault-east: generate it there from the DR set's key shares for
# this run only (Terraform 1.11 and later). It is revoked when the run ends.
variable "unseal_keys" {
  type      = list(string)
  sensitive = true
  ephemeral = true
}

ephemeral "vaultrepl_dr_operation_token" "east" {
  provider   = vaultrepl.east
  key_shares = var.unseal_keys
}

ephemeral "vaultrepl_dr_secondary_token" "east" {
  provider     = vaultrepl.west
  secondary_id = "dr-east"
}

resource "vaultrepl_dr_secondary" "east" {
  provider              = vaultrepl.east
  token_wo              = ephemeral.vaultrepl_dr_secondary_token.east.token
  token_wo_version      = 1
  dr_operation_token_wo = ephemeral.vaultrepl_dr_operation_token.east.token
}
