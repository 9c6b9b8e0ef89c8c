package app

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// cmdPurge compacts the read models, as passport:purge: without flags it
// drops tokens revoked or expired more than --hours ago (default 168);
// --revoked or --expired narrow it. It appends TokensPurged, so every
// instance (running or started later) purges the same records and a
// rebuild reproduces them; events are never deleted.
func cmdPurge(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	revoked := fs.Bool("revoked", false, "only revoked tokens")
	expired := fs.Bool("expired", false, "only expired tokens")
	hours := fs.Int("hours", 168, "only tokens revoked or expired more than this many hours ago")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *hours < 0 {
		return usageErrorf("--hours must not be negative")
	}
	if !*revoked && !*expired {
		*revoked, *expired = true, true
	}
	return withCLIService(ctx, c, io, func(svc *domain.Service, _ *cliLog) error {
		e, err := svc.Purge(ctx, domain.Actor{Kind: domain.ActorCLI}, *revoked, *expired, time.Duration(*hours)*time.Hour)
		if err != nil {
			return err
		}
		what := map[[2]bool]string{{true, true}: "revoked or expired", {true, false}: "revoked", {false, true}: "expired"}[[2]bool{e.Revoked, e.Expired}]
		fmt.Fprintf(io.Stdout, "Purging tokens %s before %s from the read models (the log keeps every event).\n", what, e.Before.Format(time.RFC3339))
		return nil
	})
}
