package replayctl

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressMeterOffTerminal(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMeter(&out, clock.now)
	if m.tty {
		t.Fatal("a bytes.Buffer is taken for a terminal")
	}
	// 1,000 events per 10ms: a line at each tenth, none in between.
	for done := uint64(0); done <= 100_000; done += 1000 {
		m.Update(done, 100_000)
		clock.t = clock.t.Add(10 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 10 {
		t.Fatalf("got %d lines; want 10 (one per tenth):\n%s", len(lines), out.String())
	}
	if want := "replay: 50000/100000 events (50%), 100000/s, 500ms left"; lines[4] != want {
		t.Errorf("line 5 = %q; want %q", lines[4], want)
	}
	if want := "replay: 100000/100000 events (100%), 100000/s, 0s left"; lines[9] != want {
		t.Errorf("last line = %q; want %q", lines[9], want)
	}

	// A slow replay: a line a second.
	out.Reset()
	m = NewMeter(&out, clock.now)
	for done := uint64(0); done < 50; done++ {
		clock.t = clock.t.Add(100 * time.Millisecond)
		m.Update(done, 1000)
	}
	if got := strings.Count(out.String(), "\n"); got != 5 {
		t.Errorf("5s of a slow replay: %d lines; want 5:\n%s", got, out.String())
	}
}

func TestProgressMeterOnTerminal(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMeter(&out, clock.now)
	m.tty = true // as if out were a terminal
	for done := uint64(0); done <= 10_000; done += 100 {
		clock.t = clock.t.Add(50 * time.Millisecond)
		m.Update(done, 10_000)
	}
	m.Note("swapping")
	m.Finish()
	s := out.String()
	if strings.Count(s, "\r") != 51 || strings.Count(s, "\n") != 2 {
		t.Errorf("terminal output has %d carriage returns and %d newlines; want 51 (every 100ms and the end) and 2:\n%q",
			strings.Count(s, "\r"), strings.Count(s, "\n"), s)
	}
	// A shorter line is padded to cover the longer one before it.
	if last := s[strings.LastIndex(s, "\r"):]; strings.Replace(last, "left \n", "left\n", 1) != "\rreplay: 10000/10000 events (100%), 1980/s, 0s left\nreplay: swapping\n" {
		t.Errorf("terminal output ends %q; want the last update, a newline and the note", last)
	}
}
