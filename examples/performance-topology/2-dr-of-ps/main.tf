# Performance topology, step 2 (Terraform 1.11 or later): the DR secondary
# of the performance secondary.
#
#   PS     (var.ps_address)     becomes a DR primary too
#   PS-DR  (var.ps_dr_address)  DR secondary "ps-dr" of PS
#
# Step 1 wiped PS's tokens and PS's seal follows P's since: this run
# generates a root token of PS's own from P's unseal key shares
# (vaultrepl_root_token, as `vault operator generate-root` against PS
# does) and revokes it when the run ends. Neither is in the plan or the
# state.

terraform {
  required_version = ">= 1.11"

  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "ps_address" {
  description = "API address of PS, the performance secondary of step 1."
  type        = string
}

variable "ps_dr_address" {
  description = "API address of PS-DR, the DR secondary of PS (its replicated data is wiped)."
  type        = string
}

variable "unseal_keys" {
  description = "Unseal key shares of P's seal (PS unseals with them since step 1), at least its threshold."
  type        = list(string)
  sensitive   = true
  ephemeral   = true
}

variable "token" {
  description = "Token with sudo on sys/replication on PS-DR before it is enabled."
  type        = string
  sensitive   = true
  ephemeral   = true
}

# Root token generation needs no token.
provider "vaultrepl" {
  alias   = "ps_keys"
  address = var.ps_address
}

ephemeral "vaultrepl_root_token" "ps" {
  provider   = vaultrepl.ps_keys
  key_shares = var.unseal_keys
}

provider "vaultrepl" {
  alias   = "ps"
  address = var.ps_address
  token   = ephemeral.vaultrepl_root_token.ps.token
}

provider "vaultrepl" {
  alias   = "ps_dr"
  address = var.ps_dr_address
  token   = var.token
}

resource "vaultrepl_dr_primary" "ps" {
  provider = vaultrepl.ps
}

ephemeral "vaultrepl_dr_secondary_token" "ps_dr" {
  provider     = vaultrepl.ps
  secondary_id = "ps-dr"

  depends_on = [vaultrepl_dr_primary.ps]
}

resource "vaultrepl_dr_secondary" "ps_dr" {
  provider         = vaultrepl.ps_dr
  token_wo         = ephemeral.vaultrepl_dr_secondary_token.ps_dr.token
  token_wo_version = 1

  timeouts = {
    create = "10m"
  }

  lifecycle {
    prevent_destroy = true
  }
}

output "ps_dr_cluster_id" {
  description = "Id of PS's DR set."
  value       = vaultrepl_dr_primary.ps.cluster_id
}

output "secondary_states" {
  description = "Replication state of PS-DR after the apply (stream-wals: caught up)."
  value       = { "ps-dr" = vaultrepl_dr_secondary.ps_dr.state }
}
