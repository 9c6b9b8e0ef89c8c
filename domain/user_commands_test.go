package domain

import (
	"crypto/rand"
	"reflect"
	"strings"
	"testing"
)

func TestValidateNewUser(t *testing.T) {
	tests := []struct {
		name, email, userName string
		want                  error
		wantEmail, wantName   string
	}{
		{"not an address", "ada", "", invalidField("email"), "", ""},
		{"a display name is not an address", "Ada <ada@example.com>", "", invalidField("email"), "", ""},
		{"too long", strings.Repeat("a", 250) + "@x.io", "", invalidField("email"), "", ""},
		{"long name", "ada@example.com", strings.Repeat("n", 256), invalidField("name"), "", ""},
		{"normalised, the email names a nameless user", " Ada@Example.COM ", " ", nil, "ada@example.com", "ada@example.com"},
		{"name trimmed", "ada@example.com", " Ada ", nil, "ada@example.com", "Ada"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email, name, err := validateNewUser(tt.email, tt.userName)
			if checkErr(t, err, tt.want) && (email != tt.wantEmail || name != tt.wantName) {
				t.Errorf("got %q, %q; want %q, %q", email, name, tt.wantEmail, tt.wantName)
			}
		})
	}
}

func TestDecideUserCommands(t *testing.T) {
	reg := UserRegistered{UserID: "u1", EmailKey: "k1", PasswordSealed: "p", EmailSealed: "e", NameSealed: "n", RegisteredAt: decisionNow()}
	registrations := []struct {
		name  string
		state registerUserState
		want  error
		then  []Event
	}{
		{"the email is new", registerUserState{}, nil, []Event{UserEmailClaimed{EmailKey: "k1", UserID: "u1"}, reg}},
		{"a released claim is free", registerUserState{Claim: EmailClaim{Seq: 7}}, nil, []Event{UserEmailClaimed{EmailKey: "k1", UserID: "u1"}, reg}},
		{"a live user holds the email", registerUserState{Claim: EmailClaim{UserID: "u0", Seq: 7}}, invalidField("email"), nil},
		{"a version 1 user holds the email by the legacy claim", registerUserState{Legacy: EmailClaim{UserID: "u0", Seq: 2}}, invalidField("email"), nil},
	}
	for _, tt := range registrations {
		t.Run("register/"+tt.name, func(t *testing.T) {
			events, err := decideRegisterUser(tt.state, reg, decisionNow(), rand.Reader)
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(events, tt.then) {
				t.Errorf("got %+v; want %+v", events, tt.then)
			}
		})
	}

	live := User{ID: "u1", EmailKey: "k1", Seq: 4}
	gone := live
	gone.Deleted = true
	changes := []struct {
		name  string
		state User
		want  error
	}{
		{"unknown user", User{}, ErrNotFound},
		{"deleted user", gone, ErrNotFound},
		{"live user", live, nil},
	}
	for _, tt := range changes {
		t.Run("password/"+tt.name, func(t *testing.T) {
			e, err := decideChangePassword(tt.state, changePassword{UserID: "u1", PasswordSealed: "sealed"}, decisionNow(), rand.Reader)
			if checkErr(t, err, tt.want) && e != (UserPasswordChanged{UserID: "u1", PasswordSealed: "sealed"}) {
				t.Errorf("got %+v; want the sealed password recorded", e)
			}
		})
	}
	if _, err := decideChangePassword(live, changePassword{UserID: "u1"}, decisionNow(), rand.Reader); err == nil {
		t.Errorf("password/no sealed password: got nil; want an error")
	}

	deletions := []struct {
		name  string
		state User
		want  error
		then  []Event
	}{
		{"unknown user", User{}, ErrNotFound, nil},
		{"deleted user: only the key is left to destroy", gone, nil, nil},
		{"live user is deleted and releases the email", live, nil, []Event{UserDeleted{UserID: "u1"}, UserEmailReleased{EmailKey: "k1", UserID: "u1"}}},
	}
	for _, tt := range deletions {
		t.Run("delete/"+tt.name, func(t *testing.T) {
			events, err := decideDeleteUser(tt.state, "u1", decisionNow(), rand.Reader)
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(events, tt.then) {
				t.Errorf("got %+v; want %+v", events, tt.then)
			}
		})
	}
}

func TestDecideLogin(t *testing.T) {
	live := User{ID: "u1"}
	gone := User{ID: "u1", Deleted: true}
	tests := []struct {
		name  string
		state loginState
		want  error
	}{
		{"no such user (checked against the dummy hash)", loginState{}, ErrAccessDenied},
		{"no such user, whatever the hash said", loginState{PasswordMatches: true}, ErrAccessDenied},
		{"wrong password", loginState{User: live}, ErrAccessDenied},
		{"deleted user", loginState{User: gone, PasswordMatches: true}, ErrAccessDenied},
		{"right password", loginState{User: live, PasswordMatches: true}, nil},
	}
	var descriptions []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := decideLogin(tt.state, "ada@example.com", decisionNow(), nil)
			if !checkErr(t, err, tt.want) {
				descriptions = append(descriptions, err.Error())
				return
			}
			if u.ID != "u1" {
				t.Errorf("got %+v; want the user", u)
			}
		})
	}
	for _, d := range descriptions[1:] {
		if d != descriptions[0] {
			t.Errorf("failures differ: %q and %q; want one answer whether or not the account exists", descriptions[0], d)
		}
	}
}
