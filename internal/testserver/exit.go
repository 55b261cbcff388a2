package testserver

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Exit is how a process that was expected to stop on its own ended.
type Exit struct {
	Code           int
	Stdout, Stderr string
}

// RunToExit runs binary with args (and the test's environment) and waits,
// at most limit, for it to exit by itself: for start-up failures. It fails
// the test if the process is still running at the limit.
func RunToExit(t testing.TB, binary string, limit time.Duration, args ...string) Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s did not exit within %s\nstdout:\n%s\nstderr:\n%s", binary, limit, stdout.String(), stderr.String())
	}
	res := Exit{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.Code = exitErr.ExitCode()
	default:
		t.Fatalf("run %s: %v", binary, err)
	}
	return res
}

// WaitOutput polls the process's output until it contains want or the
// time is up; it returns the output. The output reaches the test through a
// pipe, so it may lag behind what the server has already answered.
func (s *Server) WaitOutput(want string, limit time.Duration) string {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out := s.out.String()
		if strings.Contains(out, want) {
			return out
		}
		select {
		case <-s.done:
			// Wait has returned, so the pipe is drained: the output is whole.
			if out := s.out.String(); strings.Contains(out, want) {
				return out
			}
			s.t.Fatalf("server exited before printing %q: %v\n%s", want, s.exitErr, s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server did not print %q within %s:\n%s", want, limit, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
