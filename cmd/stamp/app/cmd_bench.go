package app

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/loadgen"
	"github.com/stamp-oauth/stamp/domain"
)

// cmdBench drives a running server for a bounded time (see loadgen.Run). Without
// --client-id it registers a client-credentials client for the run and
// deletes it afterwards; the raw signing rate uses the configured key.
func cmdBench(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	url := fs.String("url", "", "server base URL (default: the server of serve.json, else http://<http-addr>)")
	clientID := fs.String("client-id", "", "a client-credentials client (default: one registered for the run)")
	clientSecret := fs.String("client-secret", "", "its secret")
	scope := fs.String("scope", "", "scope parameter of the token requests")
	duration := fs.Duration("duration", loadgen.DefaultDuration, "length of each phase")
	concurrency := fs.Int("concurrency", loadgen.DefaultConcurrency, "concurrent requests")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	opts := loadgen.Options{URL: *url, ClientID: *clientID, ClientSecret: *clientSecret, Scope: *scope, Duration: *duration, Concurrency: *concurrency}
	if opts.URL == "" {
		opts.URL = "http://" + c.HTTPAddr
		if info, err := readServeInfo(c); err == nil && info.HTTPURL != "" {
			opts.URL = info.HTTPURL
		}
	}
	var key crypto.Signer
	if key, err = loadSigningKey(c); err != nil && !errors.Is(err, errNoKey) {
		return err
	}
	opts.Signer = key
	if opts.ClientID == "" {
		cleanup, err := benchClient(ctx, c, io, &opts)
		if err != nil {
			return fmt.Errorf("register a client for the run: %w", err)
		}
		defer cleanup()
	}
	_, err = loadgen.Run(ctx, opts, io.Stdout)
	return err
}

// benchClient registers a client-credentials client for one run and
// returns a function deleting it.
func benchClient(ctx context.Context, c Config, io IO, opts *loadgen.Options) (func(), error) {
	l, err := openCLILog(ctx, c, newLogger(c, io.Stderr))
	if err != nil {
		return nil, err
	}
	if c, err = serverSettings(ctx, c, l, io.Stderr); err != nil { // the server's scopes, not a guess
		l.Close()
		return nil, err
	}
	svc, err := cliService(c, l)
	if err != nil {
		l.Close()
		return nil, err
	}
	actor := domain.Actor{Kind: domain.ActorCLI}
	cl, secret, err := svc.RegisterClient(ctx, actor, domain.RegisterClient{Name: "stamp bench", Grants: []string{domain.GrantClientCredentials}})
	if err != nil {
		l.Close()
		return nil, err
	}
	opts.ClientID, opts.ClientSecret = cl.ID, secret
	return func() {
		if err := svc.DeleteClient(context.Background(), actor, cl.ID, ""); err != nil {
			fmt.Fprintf(io.Stderr, "stamp bench: delete client %s: %v\n", cl.ID, err)
		}
		l.Close()
	}, nil
}
