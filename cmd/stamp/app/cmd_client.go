package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// stringList is a flag that may be given several times.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdClientCreate(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("client create", flag.ContinueOnError)
	name := fs.String("name", "", "the client's name (required)")
	kind := map[string]*bool{
		"client":   fs.Bool("client", false, "a client-credentials (machine-to-machine) client"),
		"password": fs.Bool("password", false, "a password-grant client"),
		"personal": fs.Bool("personal", false, "a personal-access client"),
		"device":   fs.Bool("device", false, "a device-authorization client"),
		"implicit": fs.Bool("implicit", false, "an implicit-grant client"),
	}
	public := fs.Bool("public", false, "no secret (PKCE, native and browser apps)")
	firstParty := fs.Bool("first-party", false, "skip the approval screen")
	user := fs.String("user", "", "the id of the user who owns the client")
	scopeList := fs.String("scopes", "", "restrict the client to these scopes, comma-separated")
	asJSON := fs.Bool("json", false, "print JSON")
	var redirects stringList
	fs.Var(&redirects, "redirect", "a redirect URI (repeatable)")
	var audiences stringList
	fs.Var(&audiences, "audience", "a resource URI (RFC 8707) the client's tokens may be requested for (repeatable, or comma-separated)")
	var origins stringList
	fs.Var(&origins, "web-origin", "a browser origin, scheme://host[:port], whose scripts may call the token and revocation endpoints (CORS; repeatable)")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	var chosen []string
	for k, v := range kind {
		if *v {
			chosen = append(chosen, k)
		}
	}
	if len(chosen) > 1 {
		return usageErrorf("choose one client type, not %s", strings.Join(chosen, " and "))
	}
	grants := []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken}
	if len(chosen) == 1 {
		grants = map[string][]string{
			"client":   {domain.GrantClientCredentials},
			"password": {domain.GrantPassword, domain.GrantRefreshToken},
			"personal": {domain.GrantPersonalAccess},
			"device":   {domain.GrantDeviceCode, domain.GrantRefreshToken},
			"implicit": {domain.GrantImplicit},
		}[chosen[0]]
	}
	if *name == "" {
		return usageErrorf("--name is required")
	}
	return withCLIService(ctx, c, io, func(svc *domain.Service, _ *cliLog) error {
		cl, secret, err := svc.RegisterClient(ctx, domain.Actor{Kind: domain.ActorCLI}, domain.RegisterClient{
			Name: *name, Grants: grants, RedirectURIs: redirects, Scopes: splitList(*scopeList),
			UserID: *user, Public: *public, FirstParty: *firstParty, Audiences: splitList(strings.Join(audiences, ",")),
			WebOrigins: origins,
		})
		if v, ok := domain.AsValidation(err); ok {
			return fmt.Errorf("%s: %s", v.Field, v.Message)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(io.Stdout, map[string]any{
				"client_id": cl.ID, "client_secret": secret, "name": cl.Name, "grants": cl.Grants,
				"redirect_uris": cl.RedirectURIs, "scopes": cl.Scopes, "audiences": cl.Audiences,
				"web_origins": cl.WebOrigins,
			})
		}
		fmt.Fprintf(io.Stdout, "Client created.\nClient ID: %s\n", cl.ID)
		if secret != "" {
			fmt.Fprintf(io.Stdout, "Client secret: %s\nStore the secret now: it is not shown again.\n", secret)
		}
		return nil
	})
}

func cmdClientList(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("client list", flag.ContinueOnError)
	all := fs.Bool("all", false, "include deleted clients")
	asJSON := fs.Bool("json", false, "print JSON")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	l, err := openCLILog(ctx, c, newLogger(c, io.Stderr))
	if err != nil {
		return err
	}
	defer l.Close()
	var recs []domain.Recorded
	err = l.Replay(ctx, 0, domain.SubjectRoot+"."+domain.KindClient+".>", func(r domain.Recorded) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return err
	}
	clients, err := domain.FoldClients(recs)
	if err != nil {
		return err
	}
	shown := clients[:0]
	for _, cl := range clients {
		if *all || cl.Exists() {
			cl.SecretHash = ""
			shown = append(shown, cl)
		}
	}
	if *asJSON {
		return writeJSON(io.Stdout, shown)
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tGRANTS\tCREATED\tSTATUS")
	for _, cl := range shown {
		status := "active"
		if cl.Deleted {
			status = "deleted"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Name, strings.Join(cl.Grants, ","), cl.CreatedAt.Format(time.RFC3339), status)
	}
	return tw.Flush()
}

func cmdClientDelete(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("client delete", flag.ContinueOnError)
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want exactly one client id")
	}
	return withCLIService(ctx, c, io, func(svc *domain.Service, _ *cliLog) error {
		err = svc.DeleteClient(ctx, domain.Actor{Kind: domain.ActorCLI}, pos[0], "")
		if errors.Is(err, domain.ErrNotFound) {
			return fmt.Errorf("no client %q (or it is already deleted)", pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Stdout, "Client %s deleted.\n", pos[0])
		return nil
	})
}
