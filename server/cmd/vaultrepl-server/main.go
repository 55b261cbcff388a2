// Command vaultrepl-server runs one Vault-compatible cluster on SQLite.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/config"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/node"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		_, _ = fmt.Fprint(stdout, config.Usage())
		return 0
	}
	if err != nil {
		printError(stderr, err)
		return 2
	}
	log := newLogger(cfg, stderr)
	if path := os.Getenv(cpuProfileEnv); path != "" {
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			printError(stderr, err)
			return 1
		}
		defer stopProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Bind(ctx, *cfg, log)
	if err != nil {
		printError(stderr, fmt.Errorf("start: %w", err))
		return 1
	}
	// The banner is printed before the first request is served, so whoever
	// sees the server answer can already read the root token.
	if cfg.Dev {
		printDevBanner(stdout, n)
	}
	n.Serve()
	<-ctx.Done()
	stop()
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Shutdown(shutdownCtx); err != nil {
		log.Error("shutdown", "error", err)
		return 1
	}
	return 0
}

// cpuProfileEnv names a file to write a CPU profile of the whole run to,
// for `vaultrepl-bench -server-cpuprofile` (an environment variable rather
// than a flag: it is a diagnostic, not a setting of the server).
const cpuProfileEnv = "VAULTREPL_CPUPROFILE"

// startCPUProfile starts profiling into path; the function it returns
// stops and flushes the profile.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("$%s: start CPU profile: %w", cpuProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// printError writes err as one line: scripts and service managers show the
// last line of stderr, and joined errors would otherwise span several.
func printError(w io.Writer, err error) {
	msg := strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", " ").Replace(err.Error())
	_, _ = fmt.Fprintf(w, "vaultrepl-server: %s\n", msg)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printDevBanner prints what a developer needs, like `vault server -dev`.
// It goes to stdout, never to the log.
func printDevBanner(w io.Writer, n *node.Node) {
	_, _ = fmt.Fprintf(w, `==> vaultrepl-server started in dev mode (in-memory style: do not use in production)

    API address:     %s
    Cluster address: %s
    Database:        %s

    Unseal Key: %x
    Root Token: %s

    export VAULT_ADDR='%s'
    export VAULT_TOKEN='%s'

`, n.APIAddr(), n.ClusterAddr(), n.DBPath(), n.DevKey, n.DevRootToken, n.APIAddr(), n.DevRootToken)
}
