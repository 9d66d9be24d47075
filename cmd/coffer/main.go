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
	code := cli.Run(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
