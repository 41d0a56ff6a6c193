// Command livecart is the live-stream shopping server: WHIP ingest and WHEP
// relay, the live room over websockets, and live carts and orders, in one
// binary.
//
//	livecart serve [--demo] [flags]   run the server
//	livecart token --role R --sub U   print a signed token
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// program is one run of the command, with its outside world injected so
// tests can run it in-process.
type program struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	// listening, when set, is told the HTTP address once the server accepts.
	listening func(net.Addr)
	// routes, when set, is told every route pattern the server registered.
	routes func([]string)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &program{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(p.run(ctx, os.Args[1:]))
}

const usageText = `livecart — live-stream shopping: WHIP in, WHEP out, a live room and one-tap orders.

usage:
  livecart serve [flags]          run the server (livecart serve -h for its flags)
  livecart serve --demo           the same, with guests, a seeded stream "demo" and its URLs printed
  livecart token --role R --sub U [--name N] [--stream S] [--ttl 1h]
                                  print a token signed with LIVECART_SECRET

Every flag has an environment variable (LIVECART_…); a flag wins over it.
`

// run executes the command line args and returns the exit code.
func (p *program) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(p.stderr, usageText)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		var cfg Config
		cfg, err = ParseServe(args[1:], p.getenv, p.stderr)
		if err == nil {
			err = p.serve(ctx, cfg)
		}
	case "token":
		err = p.token(args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(p.stdout, usageText)
		return 0
	default:
		fmt.Fprintf(p.stderr, "livecart: unknown command %q\n\n%s", args[0], usageText)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(p.stderr, "livecart %s: %v\n", args[0], err)
	return 1
}
