package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/clilog"
	"github.com/stamp-oauth/stamp/domain"
)

// The user commands manage built-in users. Passwords come from a prompt
// without echo on a terminal, or from the first line of standard input;
// never from a flag, which would leave them in the shell history and the
// process list.

// readPassword prompts on a terminal (twice, without echo) or reads the
// first line of stdin.
func readPassword(cio IO, fromStdin bool) (string, error) {
	if f, ok := cio.Stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cio.Stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cio.Stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(cio.Stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cio.Stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	if cio.Stdin == nil {
		return "", errors.New("no password: give it on standard input")
	}
	line, err := bufio.NewReader(cio.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password: give it on standard input")
	}
	return line, nil
}

func cmdUserCreate(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	email := fs.String("email", "", "the user's email, which is their login (required)")
	name := fs.String("name", "", "the user's name")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input even on a terminal")
	asJSON := fs.Bool("json", false, "print JSON")
	c, pos, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *email == "" {
		return usageErrorf("want: stamp user create --email E [--name N]")
	}
	password, err := readPassword(cio, *fromStdin)
	if err != nil {
		return err
	}
	return withCLIService(ctx, c, cio, func(svc *domain.Service, _ *cliLog) error {
		u, err := svc.RegisterUser(ctx, domain.Actor{Kind: domain.ActorCLI}, *email, *name, password)
		if err != nil {
			return readable(err)
		}
		if *asJSON {
			return writeJSON(cio.Stdout, map[string]string{"id": u.ID, "email": u.Email, "name": u.Name})
		}
		fmt.Fprintf(cio.Stdout, "User created.\nID: %s\nEmail: %s\n", u.ID, u.Email)
		return nil
	})
}

// withCLIService opens the log for one command and gives it a service,
// on the server's settings (serverSettings) rather than its own; l.cfg
// holds the configuration it acts on.
func withCLIService(ctx context.Context, c Config, cio IO, fn func(*domain.Service, *cliLog) error) error {
	l, err := openCLILog(ctx, c, newLogger(c, cio.Stderr))
	if err != nil {
		return err
	}
	defer l.Close()
	if c, err = serverSettings(ctx, c, l, cio.Stderr); err != nil {
		return err
	}
	l.cfg = c
	svc, err := cliService(c, l)
	if err != nil {
		return err
	}
	return fn(svc, l)
}

// readable turns a validation error into a one-line message.
func readable(err error) error {
	if v, ok := domain.AsValidation(err); ok {
		return fmt.Errorf("%s: %s", v.Field, v.Message)
	}
	return err
}

// logUsers folds the users out of the log.
func logUsers(ctx context.Context, l *cliLog) ([]domain.User, error) {
	var recs []domain.Recorded
	err := l.Replay(ctx, 0, domain.SubjectRoot+"."+domain.KindUser+".>", func(r domain.Recorded) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if recs, err = clilog.Reveal(ctx, l.keys, recs); err != nil {
		return nil, err
	}
	return domain.FoldUsers(recs)
}

// findUser resolves an id or an email to a live user, from the log.
func findUser(ctx context.Context, l *cliLog, ref string) (domain.User, error) {
	users, err := logUsers(ctx, l)
	if err != nil {
		return domain.User{}, err
	}
	for _, u := range users {
		if u.Exists() && (u.ID == ref || (u.Email != domain.Erased && u.Email == domain.NormalizeEmail(ref))) {
			return u, nil
		}
	}
	return domain.User{}, fmt.Errorf("no user %q", ref)
}

func cmdUserList(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("user list", flag.ContinueOnError)
	all := fs.Bool("all", false, "include deleted users")
	asJSON := fs.Bool("json", false, "print JSON")
	c, pos, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	return withCLIService(ctx, c, cio, func(_ *domain.Service, l *cliLog) error {
		users, err := logUsers(ctx, l)
		if err != nil {
			return err
		}
		type row struct {
			ID      string    `json:"id"`
			Email   string    `json:"email"`
			Name    string    `json:"name"`
			Created time.Time `json:"created_at"`
			Deleted bool      `json:"deleted,omitempty"`
		}
		var rows []row
		for _, u := range users {
			if *all || u.Exists() {
				rows = append(rows, row{u.ID, u.Email, u.Name, u.CreatedAt, u.Deleted})
			}
		}
		if *asJSON {
			return writeJSON(cio.Stdout, rows)
		}
		tw := tabwriter.NewWriter(cio.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tCREATED\tSTATUS")
		for _, r := range rows {
			status := "active"
			if r.Deleted {
				status = "deleted"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Email, r.Name, r.Created.Format(time.RFC3339), status)
		}
		return tw.Flush()
	})
}

func cmdUserPasswd(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("user passwd", flag.ContinueOnError)
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input even on a terminal")
	c, pos, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want: stamp user passwd ID|EMAIL")
	}
	password, err := readPassword(cio, *fromStdin)
	if err != nil {
		return err
	}
	return withCLIService(ctx, c, cio, func(svc *domain.Service, l *cliLog) error {
		u, err := findUser(ctx, l, pos[0])
		if err != nil {
			return err
		}
		if err := svc.ChangePassword(ctx, domain.Actor{Kind: domain.ActorCLI}, u.ID, password); err != nil {
			return readable(err)
		}
		fmt.Fprintf(cio.Stdout, "Password of %s changed.\n", u.Email)
		return nil
	})
}

func cmdUserDelete(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("user delete", flag.ContinueOnError)
	c, pos, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want: stamp user delete ID|EMAIL")
	}
	return withCLIService(ctx, c, cio, func(svc *domain.Service, l *cliLog) error {
		u, err := findUser(ctx, l, pos[0])
		if err != nil {
			// A deleted user, by id: deleting again destroys its key, in
			// case that failed the first time.
			if !domain.ValidID(pos[0]) {
				return err
			}
			switch derr := svc.DeleteUser(ctx, domain.Actor{Kind: domain.ActorCLI}, pos[0]); {
			case derr == nil:
				fmt.Fprintf(cio.Stdout, "User %s was deleted already; their personal data is erased.\n", pos[0])
				return nil
			case !errors.Is(derr, domain.ErrNotFound):
				return derr
			}
			return err
		}
		if err := svc.DeleteUser(ctx, domain.Actor{Kind: domain.ActorCLI}, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(cio.Stdout, "User %s deleted; their tokens stop validating and their personal data is erased.\n", u.Email)
		return nil
	})
}
