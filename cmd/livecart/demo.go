package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/livecart/livecart/api"
	"github.com/livecart/livecart/auth"
	"github.com/livecart/livecart/cart"
)

// The demo stream and its host.
const (
	demoStream = "demo"
	demoHost   = "demo-host"
	demoTTL    = 12 * time.Hour
)

var demoProducts = []cart.Product{
	{SKU: "tee-sunset", Name: "Sunset tee", PriceCents: 2900, Currency: "EUR", Stock: 50, ImageURL: "/assets/demo/tee.svg", Description: "Heavy cotton, boxy fit."},
	{SKU: "mug-lagoon", Name: "Lagoon enamel mug", PriceCents: 1800, Currency: "EUR", Stock: 20, ImageURL: "/assets/demo/mug.svg", Description: "350 ml, camp-fire proof."},
	{SKU: "cap-night", Name: "Night cap", PriceCents: 2400, Currency: "EUR", Stock: 5, ImageURL: "/assets/demo/cap.svg", Description: "Six panels, one size."},
}

// seedDemo creates the demo stream and its products (keeping them when a
// shared Redis already has them) and prints the URLs, with tokens, of the
// studio, the moderator console, the viewer page and OBS's WHIP settings.
func (a *app) seedDemo(ctx context.Context, addr net.Addr, out io.Writer) error {
	// The demo is set up as its host would do it, through the same checks.
	owner := &auth.Principal{Sub: demoHost, Name: "Demo host", Role: auth.Host}
	if _, err := a.parts.streams.Create(ctx, demoStream, "livecart demo: the spring drop", auth.OwnerOf(owner)); err != nil && api.CodeOf(err) != api.Conflict {
		return fmt.Errorf("demo stream: %w", err)
	}
	var skus []string
	for _, p := range demoProducts {
		if _, err := a.parts.shop.Product(ctx, p.SKU); err == nil {
			skus = append(skus, p.SKU) // kept: its stock is live
			continue
		}
		if _, err := a.parts.shop.PutProduct(ctx, owner, p); err != nil {
			return fmt.Errorf("demo product %s: %w", p.SKU, err)
		}
		skus = append(skus, p.SKU)
	}
	if err := a.parts.shop.PutLineup(ctx, owner, demoStream, skus); err != nil {
		return fmt.Errorf("demo lineup: %w", err)
	}

	base := baseURL(addr)
	host, err := a.signer.Issue(auth.Principal{Sub: demoHost, Name: "Demo host", Role: auth.Host}, demoTTL)
	if err != nil {
		return err
	}
	mod, err := a.signer.Issue(auth.Principal{Sub: "demo-moderator", Name: "Demo moderator", Role: auth.Moderator, Stream: demoStream}, demoTTL)
	if err != nil {
		return err
	}
	viewer, err := a.signer.Issue(auth.Principal{Sub: "demo-viewer", Name: "Demo viewer", Role: auth.Viewer}, demoTTL)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.Join(ctx.Err())
	}
	q := func(tok string) string { return "?token=" + url.QueryEscape(tok) }
	fmt.Fprintf(out, `
livecart demo is running (tokens valid for %s)

  studio (host):  %s/studio/%s%s
  moderator:      %s/moderate/%s%s
  viewer:         %s/watch/%s%s
  viewer (guest): %s/watch/%s

  OBS → Settings → Stream → Service "WHIP"
    Server:             %s/api/streams/%s/whip
    Bearer Token:       %s

%s
`, demoTTL, base, demoStream, q(host), base, demoStream, q(mod), base, demoStream, q(viewer), base, demoStream, base, demoStream, host,
		mintHelp(a.madeUpSecret))
	return nil
}

// mintHelp says how to mint more tokens that this server accepts: with the
// key the demo made up (printed, since it lives only as long as the
// process), or with the configured LIVECART_SECRET.
func mintHelp(madeUp string) string {
	const cmd = "go run ./cmd/livecart token --role viewer --sub ana --name Ana"
	if madeUp == "" {
		return "  More tokens (another terminal, with this server's LIVECART_SECRET):\n    " + cmd + "\n"
	}
	return "  More tokens (another terminal; this key is made up at start and changes on restart,\n" +
		"  set LIVECART_SECRET to keep one):\n    LIVECART_SECRET=" + madeUp + " " + cmd + "\n"
}

// baseURL is the address people on this machine reach the server at.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
