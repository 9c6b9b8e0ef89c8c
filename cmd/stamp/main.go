// Command stamp is an event-sourced OAuth2 authorization server. See the
// README for its commands and settings.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], app.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
