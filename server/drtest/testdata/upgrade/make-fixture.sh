#!/usr/bin/env bash
# Makes the upgrade fixture: a DR pair written by the release before the
# barrier (commit 1d97f93), values in plain text. Usage:
#   git archive 1d97f93 | tar -x -C /tmp/pre && (cd /tmp/pre && go build -o /tmp/old-server ./server/cmd/vaultrepl-server)
#   ./make-fixture.sh /tmp/old-server
# Writes primary.db.gz, secondary.db.gz and fixture.json here.
set -euo pipefail
bin=${1:?old server binary}
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $pa $pb 2>/dev/null || true; rm -rf "$work"' EXIT
A=127.0.0.1:18311 AC=127.0.0.1:18312 B=127.0.0.1:18313 BC=127.0.0.1:18314
"$bin" -listen-address $A -cluster-listen-address $AC -db "$work/primary.db" -heartbeat-interval 200ms >"$work/a.log" 2>&1 & pa=$!
"$bin" -listen-address $B -cluster-listen-address $BC -db "$work/secondary.db" -heartbeat-interval 200ms >"$work/b.log" 2>&1 & pb=$!
for addr in $A $B; do
  for _ in $(seq 50); do curl -s -o /dev/null "http://$addr/v1/sys/health" && break; sleep 0.1; done
done
j() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
init=$(curl -sf -X PUT "http://$A/v1/sys/init" -d '{"secret_shares":5,"secret_threshold":3}')
root=$(echo "$init" | j "['root_token']")
for i in 0 1 2; do curl -sf -X PUT "http://$A/v1/sys/unseal" -d "{\"key\":\"$(echo "$init" | j "['keys'][$i]")\"}" >/dev/null; done
initb=$(curl -sf -X PUT "http://$B/v1/sys/init" -d '{"secret_shares":1,"secret_threshold":1}')
rootb=$(echo "$initb" | j "['root_token']")
curl -sf -X PUT "http://$B/v1/sys/unseal" -d "{\"key\":\"$(echo "$initb" | j "['keys'][0]")\"}" >/dev/null
H="X-Vault-Token: $root"
curl -sf -H "$H" -X PUT "http://$A/v1/secret/fixture" -d '{"v":"upgradekvcanary7d1e"}'
for i in $(seq -w 1 80); do curl -sf -H "$H" -X PUT "http://$A/v1/secret/many/k$i" -d "{\"v\":\"value-$i\"}"; done
curl -sf -H "$H" -X PUT "http://$A/v1/sys/policies/acl/fixture" -d '{"policy":"path \"secret/upgradepolicycanary3c2a\" { capabilities = [\"read\"] }"}'
curl -sf -H "$H" -X PUT "http://$A/v1/auth/token/create" -d '{"id":"upgradetokencanary5b9c","policies":["fixture"]}' >/dev/null
curl -sf -H "$H" -X PUT "http://$A/v1/sys/replication/dr/primary/enable" -d '{}' >/dev/null
tok=$(curl -sf -H "$H" -X PUT "http://$A/v1/sys/replication/dr/primary/secondary-token" -d '{"id":"b"}' | j "['wrap_info']['token']")
curl -sf -H "X-Vault-Token: $rootb" -X PUT "http://$B/v1/sys/replication/dr/secondary/enable" -d "{\"token\":\"$tok\"}" >/dev/null
for _ in $(seq 100); do
  pr=$(curl -s "http://$A/v1/sys/replication/dr/status" | j "['data']['merkle_root']")
  sr=$(curl -s "http://$B/v1/sys/replication/dr/status" | j "['data']['merkle_root']")
  st=$(curl -s "http://$B/v1/sys/replication/dr/status" | j "['data']['state']")
  [ "$pr" = "$sr" ] && [ "$st" = stream-wals ] && break
  sleep 0.2
done
[ "$pr" = "$sr" ] || { echo "pair did not converge"; exit 1; }
kill -TERM $pa $pb; wait $pa $pb || true
for db in primary secondary; do
  python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('VACUUM'); c.close()" "$work/$db.db"
  gzip -9 -c "$work/$db.db" >"$out/$db.db.gz"
done
echo "$init" | python3 -c "import json,sys; d=json.load(sys.stdin); json.dump({'keys':d['keys'],'root_token':d['root_token'],'canaries':['upgradekvcanary7d1e','upgradepolicycanary3c2a','upgradetokencanary5b9c']}, open(sys.argv[1],'w'), indent=1)" "$out/fixture.json"
ls -la "$out"
