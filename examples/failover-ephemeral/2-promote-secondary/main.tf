# Failover, step 2, with no secret in the state (Terraform 1.11 or later):
# the primary is lost. Promote the DR secondary with the primary's unseal key
# shares, given in an ephemeral variable and passed through the write-only
# key_shares_wo: the provider generates the DR operation token on the
# cluster itself and promotes with it; neither reaches the plan or the state.
#
# Only the promoted cluster is touched, so this step works while the old
# primary is unreachable. Keep clients away from the old primary: if it comes
# back it is a primary too, until step 3 demotes it.

terraform {
  required_version = ">= 1.11"

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
  ephemeral   = true
}

variable "unseal_keys" {
  description = "Unseal key shares of the lost primary, at least its threshold."
  type        = list(string)
  sensitive   = true
  ephemeral   = true
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
  key_shares_wo = var.unseal_keys
  # Raising it replaces the promotion: a deliberate new promotion if the
  # cluster is a DR secondary again by then.
  credentials_wo_version = 1
  force                  = var.force
}

output "mode" {
  description = "The cluster's DR mode after the promotion."
  value       = vaultrepl_dr_promotion.this.current_mode
}
