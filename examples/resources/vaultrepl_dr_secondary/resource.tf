# One provider per cluster: Terraform runs one provider process per alias.
provider "vaultrepl" {
  alias   = "east"
  address = "https://vault-east.example.com:8200"
}

provider "vaultrepl" {
  alias   = "west"
  address = "https://vault-west.example.com:8200"
}

resource "vaultrepl_dr_primary" "east" {
  provider = vaultrepl.east
}

# Terraform 1.11 and later: the activation token lives for this run only and
# never reaches the plan or the state.
ephemeral "vaultrepl_dr_secondary_token" "west" {
  provider     = vaultrepl.east
  secondary_id = "dr-west"

  depends_on = [vaultrepl_dr_primary.east]
}

# WIPES the replicated data of vault-west and replaces it with the primary's,
# then waits until it streams WALs with the primary's merkle root.
resource "vaultrepl_dr_secondary" "west" {
  provider = vaultrepl.west
  token_wo = ephemeral.vaultrepl_dr_secondary_token.west.token
  # Changing the version replaces the secondary (a wipe) with the token of
  # that apply; a new token_wo alone changes nothing.
  token_wo_version = 1

  # Only needed when the primary's API is not reachable at the address in
  # the token (its api_addr), or its certificate needs a private CA that the
  # secondary's server reads from its own disk.
  # primary_api_addr = "https://vault-east.internal:8200"
  # ca_file          = "/etc/vault/tls/east-ca.pem"

  timeouts = {
    create = "15m"
  }
}

# Terraform before 1.11 and OpenTofu: a managed vaultrepl_dr_secondary_token
# and `token`, both stored in the state.
#
# resource "vaultrepl_dr_secondary_token" "west" {
#   provider     = vaultrepl.east
#   secondary_id = "dr-west"
#   depends_on   = [vaultrepl_dr_primary.east]
# }
#
# resource "vaultrepl_dr_secondary" "west" {
#   provider = vaultrepl.west
#   token    = vaultrepl_dr_secondary_token.west.token
# }
