package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// ErrUnknownEventType: Decode met an event type this version of stamp does
// not know (written by a newer release). Read models skip such events.
var ErrUnknownEventType = errors.New("domain: unknown event type")

// FutureVersionError: Decode met a known event type at a schema version
// newer than this code understands. A read model must stop on it rather
// than skip it, since skipping would silently lose a state change.
type FutureVersionError struct {
	Type    string
	Version int
	Known   int
}

func (e *FutureVersionError) Error() string {
	return fmt.Sprintf("domain: event %s version %d is newer than the known version %d", e.Type, e.Version, e.Known)
}

// Decode turns an envelope into its event, upcasting old schema versions to
// the current one first. It returns an error wrapping ErrUnknownEventType for
// a type it does not know, a *FutureVersionError for a version newer than
// the current one, and a decoding error for a malformed payload.
func Decode(env Envelope) (Event, error) {
	return decodeWith(env, upcast)
}

// An upcaster turns the data of (type, version) into the data of the next
// version. It is called repeatedly until the version is current.
type upcaster func(eventType string, version int, data json.RawMessage) (json.RawMessage, error)

// upcast holds the schema history: one case per (type, version) that has a
// successor. A new version adds its case here and a golden file under
// testdata/.
func upcast(eventType string, version int, data json.RawMessage) (json.RawMessage, error) {
	switch {
	case eventType == "UserRegistered" && version == 1:
		return upcastUserRegisteredV1(data)
	}
	return nil, fmt.Errorf("domain: no upcaster from %s version %d", eventType, version)
}

// upcastUserRegisteredV1: version 1 carried email and name in clear and no
// email_key; its email's claim is named by LegacyEmailKey.
func upcastUserRegisteredV1(data json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("domain: upcast UserRegistered v1: %w", err)
	}
	var email string
	if raw, ok := m["email"]; ok {
		if err := json.Unmarshal(raw, &email); err != nil {
			return nil, fmt.Errorf("domain: upcast UserRegistered v1: email: %w", err)
		}
	}
	if _, ok := m["email_key"]; !ok {
		m["email_key"], _ = json.Marshal(LegacyEmailKey(email))
	}
	return json.Marshal(m)
}

func decodeWith(env Envelope, up upcaster) (Event, error) {
	e := blank(env.Type)
	if e == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, env.Type)
	}
	current := e.EventVersion()
	if env.Version > current {
		return nil, &FutureVersionError{Type: env.Type, Version: env.Version, Known: current}
	}
	if env.Version < 1 {
		return nil, fmt.Errorf("domain: event %s has invalid version %d", env.Type, env.Version)
	}
	data := env.Data
	for v := env.Version; v < current; v++ {
		next, err := up(env.Type, v, data)
		if err != nil {
			return nil, err
		}
		data = next
	}
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("domain: decode %s v%d: %w", env.Type, env.Version, err)
	}
	return deref(e), nil
}

// blank returns a pointer to a zero event of the given wire type, or nil.
func blank(eventType string) Event {
	switch eventType {
	case "ClientRegistered":
		return &ClientRegistered{}
	case "ClientUpdated":
		return &ClientUpdated{}
	case "ClientSecretRegenerated":
		return &ClientSecretRegenerated{}
	case "ClientDeleted":
		return &ClientDeleted{}
	case "AccessTokenCreated":
		return &AccessTokenCreated{}
	case "AccessTokenRevoked":
		return &AccessTokenRevoked{}
	case "RefreshTokenCreated":
		return &RefreshTokenCreated{}
	case "RefreshTokenRevoked":
		return &RefreshTokenRevoked{}
	case "RefreshTokenReuseDetected":
		return &RefreshTokenReuseDetected{}
	case "SigningKeyGenerated":
		return &SigningKeyGenerated{}
	case "SigningKeyRetired":
		return &SigningKeyRetired{}
	case "TokensPurged":
		return &TokensPurged{}
	case "UserRegistered":
		return &UserRegistered{}
	case "UserPasswordChanged":
		return &UserPasswordChanged{}
	case "UserDeleted":
		return &UserDeleted{}
	case "UserEmailClaimed":
		return &UserEmailClaimed{}
	case "UserEmailReleased":
		return &UserEmailReleased{}
	case "SessionEnded":
		return &SessionEnded{}
	case "ServerConfigured":
		return &ServerConfigured{}
	case "AuthCodeIssued":
		return &AuthCodeIssued{}
	case "AuthCodeRedeemed":
		return &AuthCodeRedeemed{}
	case "ClientAuthorized":
		return &ClientAuthorized{}
	case "ClientAuthorizationRevoked":
		return &ClientAuthorizationRevoked{}
	case "DeviceCodeIssued":
		return &DeviceCodeIssued{}
	case "DeviceCodeApproved":
		return &DeviceCodeApproved{}
	case "DeviceCodeDenied":
		return &DeviceCodeDenied{}
	case "DeviceCodeRedeemed":
		return &DeviceCodeRedeemed{}
	case "LogSigningKeyAnnounced":
		return &LogSigningKeyAnnounced{}
	case "LogCheckpointed":
		return &LogCheckpointed{}
	case "ListenerRetryRequested":
		return &ListenerRetryRequested{}
	}
	return blankChallenge(eventType)
}

// blankChallenge is blank for the events of login and consent
// delegation (challenge.go).
func blankChallenge(eventType string) Event {
	switch eventType {
	case "LoginRequested":
		return &LoginRequested{}
	case "LoginAccepted":
		return &LoginAccepted{}
	case "LoginRejected":
		return &LoginRejected{}
	case "LoginCompleted":
		return &LoginCompleted{}
	case "ConsentRequested":
		return &ConsentRequested{}
	case "ConsentAccepted":
		return &ConsentAccepted{}
	case "ConsentRejected":
		return &ConsentRejected{}
	case "ConsentCompleted":
		return &ConsentCompleted{}
	}
	return nil
}

// deref returns the event value behind the pointer blank made, so callers
// switch on value types.
func deref(e Event) Event {
	return reflect.ValueOf(e).Elem().Interface().(Event)
}

// EventTypes lists the wire names of every event type this code knows.
func EventTypes() []string {
	return []string{
		"ClientRegistered", "ClientUpdated", "ClientSecretRegenerated", "ClientDeleted",
		"AccessTokenCreated", "AccessTokenRevoked",
		"RefreshTokenCreated", "RefreshTokenRevoked", "RefreshTokenReuseDetected",
		"SigningKeyGenerated", "SigningKeyRetired",
		"TokensPurged",
		"UserRegistered", "UserPasswordChanged", "UserDeleted", "UserEmailClaimed", "UserEmailReleased",
		"SessionEnded", "ServerConfigured",
		"AuthCodeIssued", "AuthCodeRedeemed", "ClientAuthorized", "ClientAuthorizationRevoked",
		"DeviceCodeIssued", "DeviceCodeApproved", "DeviceCodeDenied", "DeviceCodeRedeemed",
		"LogSigningKeyAnnounced", "LogCheckpointed",
		"ListenerRetryRequested",
		"LoginRequested", "LoginAccepted", "LoginRejected", "LoginCompleted",
		"ConsentRequested", "ConsentAccepted", "ConsentRejected", "ConsentCompleted",
	}
}
