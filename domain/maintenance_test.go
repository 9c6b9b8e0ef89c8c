package domain

import (
	"crypto/rand"
	"testing"
	"time"
)

func TestDecidePurge(t *testing.T) {
	tests := []struct {
		name string
		cmd  purge
		want error
	}{
		{"neither revoked nor expired", purge{OlderThan: time.Hour}, invalidField("purge")},
		{"negative age", purge{Revoked: true, OlderThan: -time.Hour}, invalidField("hours")},
		{"revoked", purge{Revoked: true}, nil},
		{"expired a day ago", purge{Expired: true, OlderThan: 24 * time.Hour}, nil},
		{"both", purge{Revoked: true, Expired: true, OlderThan: time.Hour}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decidePurge(noState{}, tt.cmd, decisionNow(), rand.Reader)
			if !checkErr(t, err, tt.want) {
				return
			}
			if !ValidID(e.PurgeID) || !e.Before.Equal(decisionNow().Add(-tt.cmd.OlderThan)) || e.Revoked != tt.cmd.Revoked || e.Expired != tt.cmd.Expired {
				t.Errorf("got %+v; want a new purge of what ended before now - %s", e, tt.cmd.OlderThan)
			}
		})
	}
}
