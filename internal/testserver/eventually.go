package testserver

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, or fails the test once limit has
// passed with what and cond's last detail: a condition with a deadline
// instead of a sleep, for state that servers reach asynchronously.
func Eventually(t testing.TB, what string, limit time.Duration, cond func() (ok bool, detail string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %s", what, limit, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
