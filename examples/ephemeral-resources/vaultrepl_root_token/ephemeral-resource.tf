# PS became a performance secondary of P: that wiped its tokens, and its
# seal follows P's. Generate a root token of PS's own from P's unseal key
# shares for this run only (it is revoked when the run ends) and give it
# to a second provider block for PS. Generation needs no token.
variable "p_unseal_keys" {
  type      = list(string)
  sensitive = true
  ephemeral = true
}

provider "vaultrepl" {
  alias   = "ps_keys"
  address = "https://ps.example.com:8200"
}

ephemeral "vaultrepl_root_token" "ps" {
  provider   = vaultrepl.ps_keys
  key_shares = var.p_unseal_keys
}

provider "vaultrepl" {
  alias   = "ps"
  address = "https://ps.example.com:8200"
  token   = ephemeral.vaultrepl_root_token.ps.token
}

# PS leads a DR set of its own too.
resource "vaultrepl_dr_primary" "ps" {
  provider = vaultrepl.ps
}
