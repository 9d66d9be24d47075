// Command coffer is the Coffer accounting server and its administration
// tools.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"coffer/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful shutdown; restoring the default
	// handling then lets a second one end the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
