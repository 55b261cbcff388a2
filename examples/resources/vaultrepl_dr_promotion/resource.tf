# Failover: vault-east is lost; promote vault-west, its DR secondary.
provider "vaultrepl" {
  alias   = "west"
  address = "https://vault-west.example.com:8200"
}

# Terraform 1.11 and later: with the lost primary's unseal key shares in an
# ephemeral variable, the provider generates a DR operation token on
# vault-west itself (attempt -> update -> decode); neither the shares nor the
# token reach the plan or the state.
resource "vaultrepl_dr_promotion" "west" {
  provider               = vaultrepl.west
  key_shares_wo          = var.east_unseal_keys
  credentials_wo_version = 1

  # Set to true only to promote a secondary that knows it is behind: the
  # entries it never received are lost.
  force = false
}

variable "east_unseal_keys" {
  type      = list(string)
  sensitive = true
  ephemeral = true
}

# Or with a DR operation token for this run only:
#
# ephemeral "vaultrepl_dr_operation_token" "west" {
#   provider   = vaultrepl.west
#   key_shares = var.east_unseal_keys
# }
#
# resource "vaultrepl_dr_promotion" "west" {
#   provider              = vaultrepl.west
#   dr_operation_token_wo = ephemeral.vaultrepl_dr_operation_token.west.token
# }
#
# Terraform before 1.11 and OpenTofu: key_shares (or dr_operation_token),
# stored in the state, and a variable without `ephemeral = true`.
#
# resource "vaultrepl_dr_promotion" "west" {
#   provider   = vaultrepl.west
#   key_shares = var.east_unseal_keys
# }
