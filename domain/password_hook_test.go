package domain

import (
	"context"
	"errors"
	"testing"
)

// hookFunc is a PasswordHook answering with a function.
type hookFunc func(username, password string) (HookLogin, error)

func (f hookFunc) CheckPassword(_ context.Context, username, password string) (HookLogin, error) {
	return f(username, password)
}

// withHook returns a Service over h's log and read models with hook as its
// password hook.
func withHook(t *testing.T, h harness, hook PasswordHook) *Service {
	t.Helper()
	ports := h.svc.ports
	ports.PasswordHook = hook
	svc, err := NewService(h.svc.cfg, ports, h.svc.Signer())
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestPasswordHookDecisions(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	down := errors.New("connection refused")
	svc := withHook(t, h, hookFunc(func(username, password string) (HookLogin, error) {
		switch {
		case password == "down":
			return HookLogin{}, down
		case password == "bad-subject":
			return HookLogin{Subject: "a/b"}, nil
		case username == "not-an-email":
			return HookLogin{Subject: "app-9"}, nil
		case password != "right":
			return HookLogin{}, ErrAccessDenied
		}
		return HookLogin{Subject: "app-7", Name: "Ada"}, nil
	}))

	if _, err := svc.AuthenticateUser(ctx, "ada@example.com", "wrong", "10.0.0.1"); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("a wrong password: %v; want access_denied", err)
	}
	for _, pw := range []string{"down", "bad-subject"} {
		_, err := svc.AuthenticateUser(ctx, "ada@example.com", pw, "10.0.0.1")
		var retry *RetryError
		if !errors.As(err, &retry) || !errors.Is(err, ErrTemporarilyUnavailable) || retry.After != PasswordHookRetry || errors.Is(err, ErrAccessDenied) {
			t.Errorf("%s: %v; want temporarily_unavailable in a RetryError of %v", pw, err, PasswordHookRetry)
		}
	}
	n := len(h.log.events())
	u, err := svc.AuthenticateUser(ctx, " Ada@Example.com ", "right", "10.0.0.1")
	if err != nil || u.ID != "app-7" || u.Email != "ada@example.com" || u.Name != "Ada" {
		t.Fatalf("first login: %+v, %v; want the new user app-7", u, err)
	}
	if got := len(h.log.events()) - n; got != 2 { // the email claim and UserRegistered
		t.Errorf("first login appended %d events; want 2", got)
	}
	n = len(h.log.events())
	if u, err = svc.AuthenticateUser(ctx, "ada@example.com", "right", "10.0.0.1"); err != nil || u.ID != "app-7" {
		t.Errorf("second login: %+v, %v; want app-7", u, err)
	}
	if got := len(h.log.events()) - n; got != 0 {
		t.Errorf("second login appended %d events; want none", got)
	}
	if _, err := svc.AuthenticateUser(ctx, "not-an-email", "right", "10.0.0.1"); err == nil || errors.Is(err, ErrAccessDenied) {
		t.Errorf("a new subject without an email: %v; want a server error", err)
	} else if _, ok := AsValidation(err); ok {
		t.Errorf("a new subject without an email: %v is a validation error; want a server error", err)
	}
	if err := svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, "app-7"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateUser(ctx, "ada@example.com", "right", "10.0.0.1"); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("a deleted user's subject: %v; want access_denied", err)
	}
}

func TestRegisterExternalUser(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	actor := Actor{Kind: ActorClient, ID: "backend"}
	u, err := h.svc.RegisterExternalUser(ctx, actor, ExternalUser{ID: "42", Email: "ada@example.com"})
	if err != nil || u.ID != "42" {
		t.Fatalf("got %+v, %v; want user 42", u, err)
	}
	if _, err := h.svc.RegisterExternalUser(ctx, actor, ExternalUser{ID: "42", Email: "bob@example.com"}); !errors.Is(err, ErrUserExists) {
		t.Errorf("a taken id: %v; want ErrUserExists", err)
	}
	if _, err := h.svc.RegisterExternalUser(ctx, actor, ExternalUser{ID: "4/2", Email: "bob@example.com"}); err == nil {
		t.Errorf("a bad id: got nil; want a validation error")
	} else if v, ok := AsValidation(err); !ok || v.Field != "external_id" {
		t.Errorf("a bad id: %v; want a validation error on external_id", err)
	}
	if err := h.svc.DeleteUser(ctx, actor, "42"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RegisterExternalUser(ctx, actor, ExternalUser{ID: "42", Email: "ada@example.com"}); !errors.Is(err, ErrUserExists) {
		t.Errorf("a deleted user's id: %v; want ErrUserExists", err)
	}
	u, err = h.svc.RegisterExternalUser(ctx, actor, ExternalUser{Email: "carol@example.com"})
	if err != nil || !ValidID(u.ID) {
		t.Errorf("no id: %+v, %v; want a random id", u, err)
	}
}
