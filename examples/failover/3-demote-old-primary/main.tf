# Failover, step 3: the old primary came back. It still believes it is the
# DR primary and would take writes that the new primary never sees, so it is
# demoted to a DR secondary that follows nobody: it keeps its data and its DR
# set, refuses writes from then on, and waits for step 4 to re-point it.
#
# Demoting is what destroying a vaultrepl_dr_primary with
# destroy_action = "demote" does. This root module adopts the old primary
# with an import block and then destroys it:
#
#   terraform apply    # imports it and sets destroy_action; changes nothing on the cluster
#   terraform destroy  # demotes it (the plan warns "Destroying Demotes The DR Primary")
#
# Run `apply` first: `terraform import` followed by `destroy` would use the
# imported destroy_action ("disable"), which leaves the DR set for good.
#
# The same folder demotes the current primary before a planned swap-back
# (5-swap-back): then successor_address is the caught-up secondary that is
# promoted next.

terraform {
  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "address" {
  description = "API address of the primary to demote (the old primary that came back)."
  type        = string
}

variable "cluster_id" {
  description = "Id of the DR set (output cluster_id of step 1). The import checks that the cluster at var.address is the primary of this DR set."
  type        = string
}

variable "successor_address" {
  description = "API address of the cluster that takes over: the promoted primary (after a failover), or a caught-up secondary of the same DR set (before a planned swap-back). Checked before anything is demoted."
  type        = string
}

variable "token" {
  description = "Token of the cluster to demote, with update on sys/replication/dr/primary/demote."
  type        = string
  sensitive   = true
}

provider "vaultrepl" {
  alias   = "old_primary"
  address = var.address
  token   = var.token
}

# Only the unauthenticated DR status is read on the successor.
provider "vaultrepl" {
  alias   = "successor"
  address = var.successor_address
}

data "vaultrepl_dr_status" "successor" {
  provider = vaultrepl.successor
}

import {
  provider = vaultrepl.old_primary
  to       = vaultrepl_dr_primary.old
  id       = var.cluster_id
}

resource "vaultrepl_dr_primary" "old" {
  provider       = vaultrepl.old_primary
  destroy_action = "demote"

  lifecycle {
    # Never demote the last primary of the DR set. Checked by `apply`; the
    # `destroy` that follows it demotes without planning the resource again.
    precondition {
      condition = (
        trimsuffix(var.successor_address, "/") != trimsuffix(var.address, "/") &&
        data.vaultrepl_dr_status.successor.cluster_id == var.cluster_id &&
        (data.vaultrepl_dr_status.successor.mode == "primary" || data.vaultrepl_dr_status.successor.state == "stream-wals")
      )
      error_message = "The successor at ${var.successor_address} is not another cluster that is the primary of DR set ${var.cluster_id} or a secondary of it streaming WALs (mode ${coalesce(data.vaultrepl_dr_status.successor.mode, "?")}, state ${coalesce(data.vaultrepl_dr_status.successor.state, "?")}, cluster_id ${coalesce(data.vaultrepl_dr_status.successor.cluster_id, "none")}). Promote it first (step 2), or let it catch up before a planned swap-back."
    }
  }
}

output "successor_mode" {
  description = "DR mode of the successor when this was planned."
  value       = data.vaultrepl_dr_status.successor.mode
}
