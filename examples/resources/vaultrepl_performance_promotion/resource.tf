# vault-east, the performance primary, is lost and vault-east-dr, its DR
# secondary, was promoted with vaultrepl_dr_promotion: it now leads the same
# performance replication set, and the performance secondaries follow it.
# This records (and checks) that; promoted = false.
resource "vaultrepl_performance_promotion" "east_dr" {
  provider = vaultrepl.east_dr

  depends_on = [vaultrepl_dr_promotion.east_dr]
}

# Or promote a performance secondary itself (with one of its own tokens as
# the provider's token); promoted = true.
#
# resource "vaultrepl_performance_promotion" "eu" {
#   provider = vaultrepl.eu
# }
