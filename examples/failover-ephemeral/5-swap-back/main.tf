# Failover, step 5 (optional), with no secret in the state (Terraform 1.11
# or later): swap the roles back, a planned failback. After step 4 the
# original primary is a caught-up DR secondary of the promoted cluster. To
# make it the primary again without losing a write:
#
#   1. stop writes to the current primary and demote it with step 3
#      (address = current primary, successor_address = original primary);
#   2. apply this root module: it promotes the original primary (no force:
#      it holds everything the demoted primary holds, which a precondition
#      checks) with key_shares_wo, mints ephemeral activation tokens on it and
#      re-points the demoted primary and the other secondary to it with
#      update-primary and DR operation tokens generated for this run - no
#      wipe, and no secret in the plan or the state.

terraform {
  required_version = ">= 1.11"

  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "original_primary_address" {
  description = "API address of the cluster to promote back: the original primary, now a DR secondary."
  type        = string
}

variable "unseal_keys" {
  description = "Unseal key shares of the DR set (those of the original primary), at least its threshold: the promotion and the re-points generate their DR operation tokens with them."
  type        = list(string)
  sensitive   = true
  ephemeral   = true
}

variable "demoted_primary_address" {
  description = "API address of the primary demoted with step 3 (the cluster promoted in step 2)."
  type        = string
}

variable "secondary2_address" {
  description = "API address of the other DR secondary (dr-2). Null if there is none."
  type        = string
  default     = null
}

variable "force" {
  description = "Promote even if the original primary does not hold everything the demoted primary holds, losing the difference."
  type        = bool
  default     = false
}

variable "token" {
  description = "Token of the DR set (the original primary's root token works), with sudo on sys/replication/dr/primary/secondary-token."
  type        = string
  sensitive   = true
  ephemeral   = true
}

provider "vaultrepl" {
  alias   = "original_primary"
  address = var.original_primary_address
  token   = var.token
}

provider "vaultrepl" {
  alias   = "demoted_primary"
  address = var.demoted_primary_address
  token   = var.token
}

provider "vaultrepl" {
  alias   = "secondary2"
  address = var.secondary2_address
  token   = var.token
}

data "vaultrepl_dr_status" "original_primary" {
  provider = vaultrepl.original_primary
}

data "vaultrepl_dr_status" "demoted_primary" {
  provider = vaultrepl.demoted_primary
}

resource "vaultrepl_dr_promotion" "back" {
  provider               = vaultrepl.original_primary
  key_shares_wo          = var.unseal_keys
  credentials_wo_version = 1
  force                  = var.force

  lifecycle {
    precondition {
      condition     = data.vaultrepl_dr_status.demoted_primary.mode == "secondary"
      error_message = "The cluster at ${var.demoted_primary_address} is not demoted (mode ${coalesce(data.vaultrepl_dr_status.demoted_primary.mode, "?")}): demote it with step 3 first, or the DR set would have two primaries."
    }
    precondition {
      condition     = var.force || data.vaultrepl_dr_status.original_primary.merkle_root == data.vaultrepl_dr_status.demoted_primary.merkle_root
      error_message = "The cluster at ${var.original_primary_address} does not hold everything the demoted primary holds (merkle root ${coalesce(data.vaultrepl_dr_status.original_primary.merkle_root, "?")} vs ${coalesce(data.vaultrepl_dr_status.demoted_primary.merkle_root, "?")}). Promoting it would lose the difference: set force = true to accept that."
    }
  }
}

# Opened once the promotion is applied (depends_on): only a primary mints.
ephemeral "vaultrepl_dr_secondary_token" "demoted_primary" {
  provider     = vaultrepl.original_primary
  secondary_id = "dr-1"
  ttl          = "30m"

  depends_on = [vaultrepl_dr_promotion.back]
}

ephemeral "vaultrepl_dr_operation_token" "demoted_primary" {
  provider   = vaultrepl.demoted_primary
  key_shares = var.unseal_keys
}

resource "vaultrepl_dr_secondary" "demoted_primary" {
  provider              = vaultrepl.demoted_primary
  token_wo              = ephemeral.vaultrepl_dr_secondary_token.demoted_primary.token
  token_wo_version      = 1
  dr_operation_token_wo = ephemeral.vaultrepl_dr_operation_token.demoted_primary.token

  timeouts = {
    create = "10m"
  }

  lifecycle {
    precondition {
      condition     = data.vaultrepl_dr_status.demoted_primary.cluster_id == data.vaultrepl_dr_status.original_primary.cluster_id
      error_message = "The clusters at ${var.demoted_primary_address} and ${var.original_primary_address} are not in the same DR set: re-pointing needs one DR set."
    }
    prevent_destroy = true
  }
}

data "vaultrepl_dr_status" "secondary2" {
  count    = var.secondary2_address == null ? 0 : 1
  provider = vaultrepl.secondary2
}

ephemeral "vaultrepl_dr_secondary_token" "secondary2" {
  count        = var.secondary2_address == null ? 0 : 1
  provider     = vaultrepl.original_primary
  secondary_id = "dr-2"
  ttl          = "30m"

  depends_on = [vaultrepl_dr_promotion.back]
}

ephemeral "vaultrepl_dr_operation_token" "secondary2" {
  count      = var.secondary2_address == null ? 0 : 1
  provider   = vaultrepl.secondary2
  key_shares = var.unseal_keys
}

resource "vaultrepl_dr_secondary" "secondary2" {
  count                 = var.secondary2_address == null ? 0 : 1
  provider              = vaultrepl.secondary2
  token_wo              = ephemeral.vaultrepl_dr_secondary_token.secondary2[0].token
  token_wo_version      = 1
  dr_operation_token_wo = ephemeral.vaultrepl_dr_operation_token.secondary2[0].token

  timeouts = {
    create = "10m"
  }

  lifecycle {
    precondition {
      condition = (
        data.vaultrepl_dr_status.secondary2[0].mode == "secondary" &&
        data.vaultrepl_dr_status.secondary2[0].cluster_id == data.vaultrepl_dr_status.original_primary.cluster_id
      )
      error_message = "The cluster at ${coalesce(var.secondary2_address, "?")} is not a DR secondary of the DR set: re-pointing it would not work, and enabling it would wipe it."
    }
    prevent_destroy = true
  }
}

output "mode" {
  description = "DR mode of the original primary after the apply."
  value       = vaultrepl_dr_promotion.back.current_mode
}

output "secondary_states" {
  description = "Replication state of each re-pointed secondary after the apply (stream-wals: caught up)."
  value = merge(
    { (vaultrepl_dr_secondary.demoted_primary.secondary_id) = vaultrepl_dr_secondary.demoted_primary.state },
    { for s in vaultrepl_dr_secondary.secondary2 : s.secondary_id => s.state },
  )
}
