package app

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
	m := newProgressMeter(&out, clock.now)
	if m.tty {
		t.Fatal("a bytes.Buffer is taken for a terminal")
	}
	// 1,000 events per 10ms: a line at each tenth, none in between.
	for done := uint64(0); done <= 100_000; done += 1000 {
		m.update(done, 100_000)
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
	m = newProgressMeter(&out, clock.now)
	for done := uint64(0); done < 50; done++ {
		clock.t = clock.t.Add(100 * time.Millisecond)
		m.update(done, 1000)
	}
	if got := strings.Count(out.String(), "\n"); got != 5 {
		t.Errorf("5s of a slow replay: %d lines; want 5:\n%s", got, out.String())
	}
}

func TestProgressMeterOnTerminal(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := newProgressMeter(&out, clock.now)
	m.tty = true // as if out were a terminal
	for done := uint64(0); done <= 10_000; done += 100 {
		clock.t = clock.t.Add(50 * time.Millisecond)
		m.update(done, 10_000)
	}
	m.note("swapping")
	m.finish()
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

func TestPrintReplay(t *testing.T) {
	same := replayResult{Events: 3000, Seconds: 1.5, Seq: 3002, Checksum: "abc", LiveChecksum: "abc"}
	var out bytes.Buffer
	if err := printReplay(&out, same); err != nil {
		t.Errorf("printReplay of equal checksums = %v; want nil", err)
	}
	want := "live     abc (sequence 3002)\nrebuilt  abc (sequence 3002)\nchecksum abc\nevents 3000 in 1.5s (2000/s)\n"
	if out.String() != want {
		t.Errorf("printReplay printed %q; want %q", out.String(), want)
	}

	drifted := same
	drifted.LiveChecksum = "def"
	if err := printReplay(&bytes.Buffer{}, drifted); err == nil || !strings.Contains(err.Error(), "drifted") {
		t.Errorf("printReplay of different checksums = %v; want an error about drift", err)
	}
	fresh := same
	fresh.LiveChecksum = ""
	out.Reset()
	if err := printReplay(&out, fresh); err != nil || strings.Contains(out.String(), "live") {
		t.Errorf("printReplay without a live store = %v, printed %q; want nil and no live line", err, out.String())
	}
}
