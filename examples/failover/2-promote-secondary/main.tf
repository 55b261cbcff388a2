# Failover, step 2: the primary is lost. Promote the DR secondary with the
# primary's unseal key shares; the provider generates the DR operation token
# itself (attempt -> update -> decode) and waits until the cluster is a primary.
#
# Only the promoted cluster is touched, so this step works while the old
# primary is unreachable. Keep clients away from the old primary: if it comes
# back it is a primary too, until step 3 demotes it. The promotion keeps the
# DR set's cluster_id; the other secondaries follow nobody until step 4
# re-points them.

terraform {
  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "address" {
  description = "API address of the DR secondary to promote."
  type        = string
}

variable "token" {
  description = "Token for the provider (after promotion the cluster honours the old primary's tokens)."
  type        = string
  sensitive   = true
}

variable "unseal_keys" {
  description = "Unseal key shares of the lost primary, at least its threshold."
  type        = list(string)
  sensitive   = true
}

variable "force" {
  description = "Promote even if the secondary is measurably behind, losing the entries it lacks."
  type        = bool
  default     = false
}

provider "vaultrepl" {
  address = var.address
  token   = var.token
}

resource "vaultrepl_dr_promotion" "this" {
  key_shares = var.unseal_keys
  force      = var.force
}

output "mode" {
  description = "The cluster's DR mode after the promotion."
  value       = vaultrepl_dr_promotion.this.current_mode
}
