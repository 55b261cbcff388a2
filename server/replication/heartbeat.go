package replication

import "time"

// Heartbeats measure the link, not the timers that drive them. The primary
// stamps each heartbeat frame it sends on the stream (t0, its clock); the
// secondary's stream reader stamps the frame's arrival (t1, its clock) and
// echoes it at once on POST /dr/heartbeat, stamping the send (t2); the
// primary stamps the arrival (t3). The same four stamps, the other way
// round, come from every heartbeat the secondary sends and the primary's
// answer. Each side then has the round trip without the peer's holding time
// and the clock offset, NTP's way, from timestamps it measured.

// echoStamp is a primary heartbeat frame as the secondary's reader saw it.
type echoStamp struct {
	sent int64 // the frame's SentAt: the primary's clock, Unix ns
	recv int64 // when the secondary's reader decoded it: its clock, Unix ns
}

// roundTrip computes, from a request sent at t0 and answered at t3 (local
// clock) that the peer received at t1 and answered at t2 (peer clock), the
// round trip without the peer's holding time (t2-t1) and the peer's clock
// minus the local one. The offset is exact when both legs take as long.
func roundTrip(t0, t1, t2, t3 int64) (rtt, skew time.Duration) {
	rtt = time.Duration((t3 - t0) - (t2 - t1))
	if rtt < 0 {
		// Clock steps between the stamps; a negative trip means nothing.
		rtt = 0
	}
	skew = time.Duration(((t1 - t0) + (t2 - t3)) / 2)
	return rtt, skew
}

// offerEcho queues a heartbeat frame for the secondary's heartbeat sender
// without ever blocking the stream reader: a newer frame replaces one not
// yet echoed (its stamps would only be older).
func offerEcho(ch chan echoStamp, e echoStamp) {
	for {
		select {
		case ch <- e:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
