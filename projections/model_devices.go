package projections

import "github.com/stamp-oauth/stamp/domain"

// The unique indexes of device authorizations: by the hash of the device
// code, and by the hash of the user code.
const (
	devicesByHash     unique = "devices/by-device-code-hash/"
	devicesByUserCode unique = "devices/by-user-code-hash/"
)

// The device codes model: devices/id/<device code id>, domain.DeviceCode
// as JSON, found by the hash of either code and filed by expiry; purged as
// the authorization codes are.
func devicesModel(f domain.Fold[domain.DeviceCode]) *model[domain.DeviceCode] {
	return &model[domain.DeviceCode]{
		name: ModelDevices,
		fold: f,
		lists: []listIndex[domain.DeviceCode]{
			{name: byExpiry, owner: func(d domain.DeviceCode) string { return timeKey(d.ExpiresAt) }, purgedBy: purgesExpired},
		},
		uniques: []uniqueIndex[domain.DeviceCode]{
			{x: devicesByHash, values: func(d domain.DeviceCode) []string { return []string{d.DeviceCodeHash} }},
			{x: devicesByUserCode, values: func(d domain.DeviceCode) []string { return []string{d.UserCodeHash} }},
		},
		purge: &purgeRule[domain.DeviceCode]{
			on:    purgeOfTokensPurged,
			drops: func(p domain.TokensPurged, d domain.DeviceCode) bool { return d.ExpiresAt.Before(p.Before) },
		},
	}
}
