package domain

import (
	"testing"
	"time"
)

func TestRevocationWindow(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	year := 365 * 24 * time.Hour
	tests := []struct {
		name      string
		window    RevocationWindow
		revokedAt time.Time
		expiresAt time.Time
		wantUntil time.Time
		wantSince time.Time // at a "now" of at
	}{
		{"expiry carried: its expiry plus the margin", RevocationWindow{year, DefaultRevocationMargin}, at, at.Add(time.Hour),
			at.Add(time.Hour + 5*time.Minute), at.Add(-year - 5*time.Minute)},
		{"expiry carried, no margin", RevocationWindow{time.Hour, 0}, at, at.Add(30 * time.Minute),
			at.Add(30 * time.Minute), at.Add(-time.Hour)},
		{"expiry already passed: still its expiry plus the margin", RevocationWindow{time.Hour, time.Minute}, at, at.Add(-time.Hour),
			at.Add(-59 * time.Minute), at.Add(-61 * time.Minute)},
		{"no expiry (older event): revoked at plus the longest lifetime plus the margin", RevocationWindow{year, DefaultRevocationMargin}, at, time.Time{},
			at.Add(year + 5*time.Minute), at.Add(-year - 5*time.Minute)},
		{"no expiry, no margin", RevocationWindow{time.Hour, 0}, at, time.Time{},
			at.Add(time.Hour), at.Add(-time.Hour)},
		{"zero window remembers nothing beyond the event", RevocationWindow{}, at, time.Time{},
			at, at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := AccessTokenRevoked{TokenID: "t1", ClientID: "c1", ExpiresAt: tt.expiresAt}
			if got := tt.window.Until(tt.revokedAt, e); !got.Equal(tt.wantUntil) {
				t.Errorf("Until(%s, expires %s) = %s; want %s", tt.revokedAt, tt.expiresAt, got, tt.wantUntil)
			}
			if got := tt.window.Since(at); !got.Equal(tt.wantSince) {
				t.Errorf("Since(%s) = %s; want %s", at, got, tt.wantSince)
			}
		})
	}
}
