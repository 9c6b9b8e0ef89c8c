package domain

import "time"

// Device authorization events (RFC 8628). A device code's aggregate is
// stamp.device.<device code id>. Neither code enters the log: the device
// code and the user code are stored as SHA-256 hashes.

// DeviceCodeIssued: a device asked for authorization.
type DeviceCodeIssued struct {
	DeviceCodeID   string    `json:"device_code_id"`
	DeviceCodeHash string    `json:"device_code_hash"`
	UserCodeHash   string    `json:"user_code_hash"`
	ClientID       string    `json:"client_id"`
	Scopes         []string  `json:"scopes"`
	Interval       int       `json:"interval"`
	IssuedAt       time.Time `json:"issued_at"`
	ExpiresAt      time.Time `json:"expires_at"`
}

// DeviceCodeApproved: the user entered the user code and approved.
type DeviceCodeApproved struct {
	DeviceCodeID string `json:"device_code_id"`
	ClientID     string `json:"client_id"`
	UserID       string `json:"user_id"`
}

// DeviceCodeDenied: the user entered the user code and denied.
type DeviceCodeDenied struct {
	DeviceCodeID string `json:"device_code_id"`
	ClientID     string `json:"client_id"`
	UserID       string `json:"user_id"`
}

// DeviceCodeRedeemed: the device exchanged its approved code for tokens.
type DeviceCodeRedeemed struct {
	DeviceCodeID  string `json:"device_code_id"`
	ClientID      string `json:"client_id"`
	UserID        string `json:"user_id"`
	AccessTokenID string `json:"access_token_id"`
	FamilyID      string `json:"family_id,omitempty"`
}

func (DeviceCodeIssued) EventType() string   { return "DeviceCodeIssued" }
func (DeviceCodeApproved) EventType() string { return "DeviceCodeApproved" }
func (DeviceCodeDenied) EventType() string   { return "DeviceCodeDenied" }
func (DeviceCodeRedeemed) EventType() string { return "DeviceCodeRedeemed" }

func (DeviceCodeIssued) EventVersion() int   { return 1 }
func (DeviceCodeApproved) EventVersion() int { return 1 }
func (DeviceCodeDenied) EventVersion() int   { return 1 }
func (DeviceCodeRedeemed) EventVersion() int { return 1 }

func (e DeviceCodeIssued) AggregateOf() Aggregate   { return Aggregate{KindDevice, e.DeviceCodeID} }
func (e DeviceCodeApproved) AggregateOf() Aggregate { return Aggregate{KindDevice, e.DeviceCodeID} }
func (e DeviceCodeDenied) AggregateOf() Aggregate   { return Aggregate{KindDevice, e.DeviceCodeID} }
func (e DeviceCodeRedeemed) AggregateOf() Aggregate { return Aggregate{KindDevice, e.DeviceCodeID} }

// Device code statuses.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceRedeemed = "redeemed"
)

// DeviceCode is the state of one device authorization.
type DeviceCode struct {
	ID             string    `json:"id"`
	DeviceCodeHash string    `json:"device_code_hash"`
	UserCodeHash   string    `json:"user_code_hash"`
	ClientID       string    `json:"client_id"`
	Scopes         []string  `json:"scopes"`
	Interval       int       `json:"interval"`
	IssuedAt       time.Time `json:"issued_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	Status         string    `json:"status"`
	UserID         string    `json:"user_id,omitempty"`
	AccessTokenID  string    `json:"access_token_id,omitempty"`
	Seq            uint64    `json:"seq"`
}

// ApplyDeviceCode folds one event into a device code's state. Only a
// pending code can be approved or denied, and only an approved one
// redeemed.
func ApplyDeviceCode(d DeviceCode, e Event, seq uint64, at time.Time) DeviceCode {
	switch e := e.(type) {
	case DeviceCodeIssued:
		d = DeviceCode{ID: e.DeviceCodeID, DeviceCodeHash: e.DeviceCodeHash, UserCodeHash: e.UserCodeHash, ClientID: e.ClientID,
			Scopes: e.Scopes, Interval: e.Interval, IssuedAt: e.IssuedAt, ExpiresAt: e.ExpiresAt, Status: DevicePending}
	case DeviceCodeApproved:
		if d.Status != DevicePending {
			return d
		}
		d.Status, d.UserID = DeviceApproved, e.UserID
	case DeviceCodeDenied:
		if d.Status != DevicePending {
			return d
		}
		d.Status, d.UserID = DeviceDenied, e.UserID
	case DeviceCodeRedeemed:
		if d.Status != DeviceApproved {
			return d
		}
		d.Status, d.AccessTokenID = DeviceRedeemed, e.AccessTokenID
	default:
		return d
	}
	d.Seq = seq
	return d
}
