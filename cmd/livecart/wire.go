package main

import (
	"context"
	"io"
	"net"
)

// wire builds stream, chat and cart on the configured stores and connects
// them. It is the only place that knows all three.
func (a *app) wire(ctx context.Context) error {
	return nil
}

// seedDemo creates the demo stream and its products and prints the URLs.
func (a *app) seedDemo(ctx context.Context, addr net.Addr, out io.Writer) error {
	return nil
}
