package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/replayctl"
)

func TestPrintReplay(t *testing.T) {
	same := replayctl.Result{Events: 3000, Seconds: 1.5, Seq: 3002, Checksum: "abc", LiveChecksum: "abc"}
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
