package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/livecart/livecart/auth"
)

// token prints a signed token, alone on stdout, as the brand's site would
// mint it.
func (p *program) token(args []string) error {
	fs := flag.NewFlagSet("livecart token", flag.ContinueOnError)
	fs.SetOutput(p.stderr)
	role := fs.String("role", "", "viewer, moderator, host or admin (required)")
	sub := fs.String("sub", "", "the user id (required)")
	name := fs.String("name", "", "display name (default: the sub)")
	stream := fs.String("stream", "", "limit the token to this stream")
	org := fs.String("org", "", "the brand the user acts for: what a host creates belongs to the org")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	secret := fs.String("secret", p.getenv("LIVECART_SECRET"), "HS256 key (env LIVECART_SECRET)")
	fs.Usage = func() {
		fmt.Fprintf(p.stderr, "usage: livecart token --role R --sub U [--name N] [--stream S] [--org O] [--ttl 1h]\n\nPrints a token signed with LIVECART_SECRET.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *secret == "" {
		return errors.New("LIVECART_SECRET (or --secret) is required to sign a token")
	}
	r := auth.Role(*role)
	if !r.Valid() {
		return fmt.Errorf("--role %q: must be viewer, moderator, host or admin", *role)
	}
	if *sub == "" {
		return errors.New("--sub is required")
	}
	if *ttl <= 0 {
		return fmt.Errorf("--ttl %s: must be positive", *ttl)
	}
	s, err := auth.NewSigner([]byte(*secret), nil)
	if err != nil {
		return err
	}
	tok, err := s.Issue(auth.Principal{Sub: *sub, Name: *name, Role: r, Stream: *stream, Org: *org}, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(p.stdout, tok)
	return nil
}
