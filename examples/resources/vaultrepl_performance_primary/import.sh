# Import an already enabled performance primary by its cluster id (the
# cluster_id in sys/replication/performance/status of the provider's cluster).
terraform import vaultrepl_performance_primary.east 6c1e0f3a-2d4b-4f8e-9a7c-5b3d1e2f4a60
