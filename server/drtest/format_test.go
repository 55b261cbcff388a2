package drtest

import (
	"fmt"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"
)

func formatInfo(infos []vaultapi.ClusterInfo) string {
	var b strings.Builder
	for _, i := range infos {
		fmt.Fprintf(&b, "%s %s hb=%s rtt=%s skew=%s\n", i.NodeID, i.ConnectionStatus, i.LastHeartBeat, i.LastHeartBeatDurationMillis, i.ClockSkewMillis)
	}
	return b.String()
}
