# Failover, step 2: the primary is lost. Promote the DR secondary with the
# primary's unseal key shares; the provider generates the DR operation token
# itself (attempt -> update -> decode) and waits until the cluster is a primary.

terraform {
  required_providers {
    vaultrepl = {
      source = "registry.terraform.io/vaultrepl/vaultrepl"
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
