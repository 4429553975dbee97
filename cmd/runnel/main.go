// Command runnel is the Runnel server (`runnel serve`) and its command
// line client. This is the only place that exits the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/runnel/runnel/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.New(os.Stdin, os.Stdout, os.Stderr, os.Getenv).ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1) // the error is already printed
	}
}
