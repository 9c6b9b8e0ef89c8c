package app

import (
	"context"
	"errors"
	"flag"
)

// cmdListenersRetry re-drives parked events of one listener.
func cmdListenersRetry(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("listeners retry", flag.ContinueOnError)
	_ = fs.Uint64("event", 0, "the stream sequence of the parked event to re-drive")
	_ = fs.Bool("all", false, "re-drive every event the listener parked")
	_, _, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	return errors.New("not yet")
}
