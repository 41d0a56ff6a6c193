// Command livecart-load puts whole-system load on a livecart server (or any
// server speaking the same protocols) and reports what it measured.
//
//	livecart-load whep  --whip URL --whep URL --viewers N …   media relay
//	livecart-load room  --url WS-URL --viewers N …             live room fan-out
//	livecart-load buy   --url BASE --buyers N …                buy storm
//	livecart-load firstframe --url BASE --stream ID …          first frame in Chromium
//
// Each mode lives in its own file and registers itself in modes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// mode is one kind of load. run parses its own flags from args, writes its
// report to stdout and returns when the run is over or ctx is cancelled.
type mode struct {
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var modes = map[string]mode{}

// register adds a mode; it is called from init functions only.
func register(name, summary string, run func(ctx context.Context, args []string, stdout io.Writer) error) {
	modes[name] = mode{summary: summary, run: run}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: livecart-load MODE [flags]   (livecart-load MODE -h for a mode's flags)")
	fmt.Fprintln(w, "\nmodes:")
	names := make([]string, 0, len(modes))
	for n := range modes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-6s %s\n", n, modes[n].summary)
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stdout)
		return
	}
	m, ok := modes[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "livecart-load: unknown mode %q\n\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.run(ctx, os.Args[2:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "livecart-load %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
