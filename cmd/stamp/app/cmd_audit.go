package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/clilog"
	"github.com/stamp-oauth/stamp/domain"
)

// cmdAudit answers what happened to a token, client or user and what its
// state was at a moment, by replaying the log (never the read models).
func cmdAudit(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	atFlag := fs.String("at", "", "the moment to judge: RFC 3339, or a duration ago (default: now)")
	asJSON := fs.Bool("json", false, "print JSON")
	c, pos, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "token" && pos[0] != "client" && pos[0] != "user") {
		return usageErrorf("want: stamp audit token|client|user ID|EMAIL [--at TIME] [--json]")
	}
	kind, id := pos[0], pos[1]
	byEmail := kind == "user" && !domain.ValidID(id) && strings.Contains(id, "@")
	if !domain.ValidID(id) && !byEmail {
		return usageErrorf("%q is not a valid id", id)
	}
	now := time.Now().UTC()
	at := now
	if *atFlag != "" {
		if at, err = clilog.ParseMoment(*atFlag, now); err != nil {
			return usageErrorf("--at: %v", err)
		}
	}
	logger := newLogger(c, cio.Stderr)
	l, err := openCLILog(ctx, c, logger)
	if err != nil {
		return err
	}
	defer l.Close()
	if byEmail { // as the other user commands: a live user's email
		u, err := findUser(ctx, l, id)
		if err != nil {
			return err
		}
		id = u.ID
	}
	var recs []domain.Recorded
	indexed := false
	if kind == "token" {
		// Fast: the token's events through the event index, its client's
		// and the keys' by subject (token_history.go).
		if recs, indexed, err = tokenAuditRecords(ctx, c, l, id); err != nil {
			return err
		}
	}
	if err := replayUnless(ctx, indexed, l, func(r domain.Recorded) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		return err
	}
	recs = slices.DeleteFunc(recs, func(r domain.Recorded) bool {
		if r.Refused != "" { // never part of an audit: see stamp verify
			logger.Error("refused event skipped", "seq", r.Seq, "subject", r.Subject, "reason", r.Refused)
			return true
		}
		return false
	})
	if recs, err = clilog.Reveal(ctx, l.keys, recs); err != nil {
		return err
	}
	if kind == "token" {
		a, err := domain.AuditToken(recs, id, at)
		if err != nil {
			return err
		}
		if a.Token.ID == "" && len(a.History) == 0 {
			return fmt.Errorf("the log holds no access token %q", id)
		}
		if *asJSON {
			return writeJSON(cio.Stdout, a)
		}
		printTokenAudit(cio.Stdout, a)
		return nil
	}
	a, err := domain.AuditSubject(recs, kind, id, at)
	if err != nil {
		return err
	}
	if len(a.History) == 0 {
		return fmt.Errorf("the log holds nothing about %s %q", kind, id)
	}
	if *asJSON {
		return writeJSON(cio.Stdout, a)
	}
	printSubjectAudit(cio.Stdout, a)
	return nil
}

func printTokenAudit(w io.Writer, a domain.TokenAudit) {
	t := a.Token
	verdict := "VALID"
	if !a.Valid {
		verdict = "NOT VALID: " + strings.Join(a.Reasons, "; ")
	}
	fmt.Fprintf(w, "access token %s at %s: %s\n", a.TokenID, a.At.Format(time.RFC3339), verdict)
	if t.ID != "" {
		fmt.Fprintf(w, "  client %s, user %s, scopes [%s], grant %s\n", t.ClientID, orDash(t.UserID), strings.Join(t.Scopes, " "), t.GrantType)
		fmt.Fprintf(w, "  issued %s, expires %s, key %s\n", t.IssuedAt.Format(time.RFC3339), t.ExpiresAt.Format(time.RFC3339), t.KeyID)
	}
	if a.Revoked != nil {
		fmt.Fprintf(w, "  revoked %s by %s\n", a.Revoked.Time.Format(time.RFC3339), actorText(a.Revoked.Actor))
	}
	printHistory(w, a.History, a.At)
}

func printSubjectAudit(w io.Writer, a domain.SubjectAudit) {
	fmt.Fprintf(w, "%s %s at %s\n", a.Kind, a.ID, a.At.Format(time.RFC3339))
	if a.Client != nil {
		status := "active"
		if a.Client.Deleted {
			status = "deleted"
		}
		fmt.Fprintf(w, "  name %q, grants %s, %s\n", a.Client.Name, strings.Join(a.Client.Grants, ","), status)
	}
	if u := a.User; u != nil {
		status, email, name := "active", u.Email, u.Name
		if u.Deleted {
			status = "deleted"
		}
		if email == "" { // erased, or dropped with the user
			email, name = domain.Erased, domain.Erased
		}
		fmt.Fprintf(w, "  email %s, name %q, %s\n", email, name, status)
	}
	live := 0
	for _, t := range a.Tokens {
		if t.Active(a.At) {
			live++
		}
	}
	fmt.Fprintf(w, "  access tokens: %d issued by then, %d valid then\n", len(a.Tokens), live)
	if len(a.Families) > 0 {
		fmt.Fprintf(w, "  refresh token families: %d\n", len(a.Families))
	}
	printHistory(w, a.History, a.At)
}

func printHistory(w io.Writer, h []domain.AuditEntry, at time.Time) {
	fmt.Fprintln(w, "history:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range h {
		mark := " "
		if e.Time.After(at) {
			mark = ">" // after the moment asked about
		}
		fmt.Fprintf(tw, "%s %d\t%s\t%s\t%s\n", mark, e.Seq, e.Time.Format(time.RFC3339), e.Type, actorText(e.Actor))
	}
	tw.Flush()
}

func actorText(a domain.Actor) string {
	if a.ID == "" {
		return a.Kind
	}
	return a.Kind + " " + a.ID
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// replayUnless replays the whole log into fn unless done.
func replayUnless(ctx context.Context, done bool, l *cliLog, fn func(domain.Recorded) error) error {
	if done {
		return nil
	}
	return l.Replay(ctx, 0, "", fn)
}
