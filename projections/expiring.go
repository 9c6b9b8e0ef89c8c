package projections

import (
	"encoding/json"

	"github.com/stamp-oauth/stamp/domain"
)

// The folds of the expiring models, authorization codes and device codes:
// as the others (see models.go), plus their entries in the unique indexes
// of their hashes and in the expiry index, kept in step with the state,
// and purges of expired ones.

func (w *writer) foldCode(rec domain.Recorded, ev domain.Event) error {
	if p, ok := ev.(domain.TokensPurged); ok {
		return w.purgeExpired(expiringCodes, p, func(val []byte) (ticket, error) {
			var x domain.AuthCode
			err := json.Unmarshal(val, &x)
			return codeTicket(x), err
		})
	}
	return foldState(w, rec, ev, domain.KindCode, expiringCodes.idKey, domain.ApplyAuthCode,
		func(x domain.AuthCode) (uint64, string) { return x.Seq, x.ID },
		func(old, next domain.AuthCode) error {
			return w.reticket(expiringCodes, codeTicket(old), codeTicket(next))
		})
}

func (w *writer) foldDevice(rec domain.Recorded, ev domain.Event) error {
	if p, ok := ev.(domain.TokensPurged); ok {
		return w.purgeExpired(expiringDevices, p, func(val []byte) (ticket, error) {
			var x domain.DeviceCode
			err := json.Unmarshal(val, &x)
			return deviceTicket(x), err
		})
	}
	return foldState(w, rec, ev, domain.KindDevice, expiringDevices.idKey, domain.ApplyDeviceCode,
		func(x domain.DeviceCode) (uint64, string) { return x.Seq, x.ID },
		func(old, next domain.DeviceCode) error {
			return w.reticket(expiringDevices, deviceTicket(old), deviceTicket(next))
		})
}

// reticket moves a record's index entries from what was to what is; was
// and is are one record (or was has no id: it is new). Approving or
// redeeming changes neither expiry nor hashes, so it writes no entry.
func (w *writer) reticket(m expiring, was, is ticket) error {
	if was.id != is.id || !was.expires.Equal(is.expires) {
		if was.id != "" {
			if err := w.batch.Delete(m.expiryKey(was.expires, was.id), nil); err != nil {
				return err
			}
		}
		if err := w.batch.Set(m.expiryKey(is.expires, is.id), []byte(is.id), nil); err != nil {
			return err
		}
	}
	for i, x := range m.uniques() {
		if x == noUnique || was.id == is.id && was.hashes[i] == is.hashes[i] {
			continue
		}
		if was.id != "" {
			if err := w.release(x, was.hashes[i], was.id); err != nil {
				return err
			}
		}
		if err := w.claim(x, is.hashes[i], is.id); err != nil {
			return err
		}
	}
	return nil
}

// purgeExpired deletes, with their index entries, the records of m that
// expired before p.Before, if p purges expired tokens (p.Expired): a code
// is of no use after its expiry, but a redeemed one is kept until then, so
// that a second use of it is recognised as reuse. They are found through
// the expiry index in the committed state, as purge finds tokens.
func (w *writer) purgeExpired(m expiring, p domain.TokensPurged, ticketOf func(val []byte) (ticket, error)) error {
	if !p.Expired {
		return nil
	}
	ids, err := w.indexed([]byte(m.expiryPrefix()), []byte(m.expiryPrefix()+timeKey(p.Before)+"/"))
	if err != nil {
		return err
	}
	for _, id := range ids { // key order: by expiry, then id
		key := m.idKey(id)
		val, found, err := w.loadRaw(key)
		if err != nil {
			return err
		}
		if !found {
			continue // an entry without its record: nothing to drop
		}
		t, err := ticketOf(val)
		if err != nil {
			return err
		}
		if !t.expires.Before(p.Before) {
			continue
		}
		if err := w.batch.Delete(m.expiryKey(t.expires, t.id), nil); err != nil {
			return err
		}
		for i, x := range m.uniques() {
			if x != noUnique {
				if err := w.release(x, t.hashes[i], t.id); err != nil {
					return err
				}
			}
		}
		if err := w.drop(key); err != nil {
			return err
		}
	}
	return nil
}
