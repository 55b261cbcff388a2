# Import an already enabled DR primary by its cluster id (the cluster_id in
# sys/replication/dr/status of the provider's cluster).
terraform import vaultrepl_dr_primary.east 4ae2c1d2-7b1e-4c0a-9d1f-3a6f1e2b8c90
