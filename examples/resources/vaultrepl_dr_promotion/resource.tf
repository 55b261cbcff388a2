# Failover: vault-east is lost; promote vault-west, its DR secondary.
provider "vaultrepl" {
  alias   = "west"
  address = "https://vault-west.example.com:8200"
}

# With the lost primary's unseal key shares, the provider generates a DR
# operation token on vault-west itself (attempt -> update -> decode).
resource "vaultrepl_dr_promotion" "west" {
  provider   = vaultrepl.west
  key_shares = var.east_unseal_keys

  # Set to true only to promote a secondary that knows it is behind: the
  # entries it never received are lost.
  force = false
}

# Or with a DR operation token generated beforehand:
#
# resource "vaultrepl_dr_promotion" "west" {
#   provider           = vaultrepl.west
#   dr_operation_token = var.dr_operation_token
# }

variable "east_unseal_keys" {
  type      = list(string)
  sensitive = true
}
