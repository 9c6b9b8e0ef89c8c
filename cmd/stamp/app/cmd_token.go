package app

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// cmdToken issues personal access tokens from the CLI:
// stamp token create --user ID|EMAIL --name N [--scopes a,b] [--json].
// The token is printed once. It needs the read models of a running
// server or, with none running, opens them itself.
func cmdToken(ctx context.Context, args []string, cio IO) error {
	if len(args) == 0 || args[0] != "create" {
		return usageErrorf("want: stamp token create --user ID|EMAIL --name N [--scopes a,b] [--json]")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	user := fs.String("user", "", "the user's id or email (required)")
	name := fs.String("name", "", "the token's name (required)")
	scopeList := fs.String("scopes", "", "scopes, comma-separated (* for all)")
	asJSON := fs.Bool("json", false, "print JSON")
	c, pos, err := parse(fs, args[1:], cio)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *user == "" || *name == "" {
		return usageErrorf("want: stamp token create --user ID|EMAIL --name N [--scopes a,b]")
	}
	return withCLIService(ctx, c, cio, func(_ *domain.Service, l *cliLog) error {
		u, err := findUser(ctx, l, *user)
		if err != nil {
			return err
		}
		svc, err := signingCLIService(ctx, l.cfg, l)
		if err != nil {
			return err
		}
		pat, err := svc.CreatePersonalAccessToken(ctx, domain.Actor{Kind: domain.ActorCLI}, u.ID, *name, splitList(*scopeList))
		if err != nil {
			return readable(err)
		}
		if *asJSON {
			// snake_case, unlike the JSON API's Passport-shaped accessToken
			return writeJSON(cio.Stdout, struct {
				AccessToken string             `json:"access_token"`
				Token       domain.AccessToken `json:"token"`
			}{pat.AccessToken, pat.Token})
		}
		fmt.Fprintf(cio.Stdout, "Personal access token %q for %s (id %s, expires %s):\n%s\nStore it now: it is not shown again.\n",
			pat.Token.Name, u.Email, pat.Token.ID, pat.Token.ExpiresAt.Format(time.RFC3339), pat.AccessToken)
		return nil
	})
}
