package replayctl

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Meter shows a replay's progress: on a terminal one line rewritten in
// place, elsewhere a line every second or every tenth of the way. Write
// errors are ignored. Not safe for concurrent use.
type Meter struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	start time.Time
	last  time.Time // of the last line shown
	tenth uint64    // of the last line shown, off a terminal
	shown int       // length of the line on screen, on a terminal
}

// NewMeter returns a Meter writing to w on the clock now, started now.
func NewMeter(w io.Writer, now func() time.Time) *Meter {
	t := now()
	return &Meter{w: w, tty: isTerminal(w), now: now, start: t, last: t}
}

// Writer returns the writer the meter shows progress on.
func (m *Meter) Writer() io.Writer { return m.w }

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update shows that done of total sequences are replayed, if it is time
// to.
func (m *Meter) Update(done, total uint64) {
	now := m.now()
	if m.tty {
		if now.Sub(m.last) < 100*time.Millisecond && done < total {
			return
		}
		line := m.line(done, total, now)
		fmt.Fprintf(m.w, "\r%-*s", m.shown, line)
		m.shown = len(line)
		m.last = now
		return
	}
	tenth := uint64(10)
	if total > 0 {
		tenth = min(done, total) * 10 / total
	}
	if tenth == m.tenth && now.Sub(m.last) < time.Second {
		return
	}
	fmt.Fprintln(m.w, m.line(done, total, now))
	m.tenth, m.last = tenth, now
}

// Note shows a line of its own.
func (m *Meter) Note(msg string) {
	m.Finish()
	fmt.Fprintln(m.w, "replay: "+msg)
}

// Finish ends the line on a terminal.
func (m *Meter) Finish() {
	if m.tty && m.shown > 0 {
		fmt.Fprintln(m.w)
		m.shown = 0
	}
}

func (m *Meter) line(done, total uint64, now time.Time) string {
	elapsed := now.Sub(m.start)
	pct := uint64(100)
	if total > 0 {
		pct = min(done, total) * 100 / total
	}
	left := "?"
	if rate := float64(done) / elapsed.Seconds(); done > 0 && elapsed > 0 && total >= done {
		d := time.Duration(float64(total-done) / rate * float64(time.Second))
		if d < 10*time.Second {
			left = d.Round(100 * time.Millisecond).String()
		} else {
			left = d.Round(time.Second).String()
		}
	}
	return fmt.Sprintf("replay: %d/%d events (%d%%), %s/s, %s left", done, total, pct, FormatRate(done, elapsed), left)
}

// FormatRate returns n per d, per second, as a whole number ("-" for no
// time).
func FormatRate(n uint64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}
