package logcheck

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// sliceLog is a log held in a slice, for the checks of a replay: the
// stream's records as JetStream would deliver them, missing ones left out.
type sliceLog []domain.Recorded

func (l sliceLog) LastSeq(context.Context) (uint64, error) {
	if len(l) == 0 {
		return 0, nil
	}
	return l[len(l)-1].Seq, nil
}

func (l sliceLog) FirstSeq(context.Context) (uint64, error) {
	if len(l) == 0 {
		return 0, nil
	}
	return l[0].Seq, nil
}

func (l sliceLog) Replay(ctx context.Context, from uint64, _ string, fn func(domain.Recorded) error) error {
	for _, r := range l {
		if r.Seq >= from {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// records returns records at the sequences seqs: revocations of token t,
// sound unless refused names them.
func records(t *testing.T, seqs []uint64, refused map[uint64]string) sliceLog {
	t.Helper()
	var l sliceLog
	for _, seq := range seqs {
		agg := domain.Aggregate{Kind: domain.KindToken, ID: "t"}
		env, err := domain.NewEnvelope("e", domain.AccessTokenRevoked{TokenID: "t", ClientID: "c", Reason: domain.ReasonRevokedByClient}, time.Now(), domain.Actor{Kind: domain.ActorSystem})
		if err != nil {
			t.Fatal(err)
		}
		r := domain.Recorded{Seq: seq, Subject: agg.Subject(env.Type), Envelope: env}
		if why, ok := refused[seq]; ok {
			r = domain.Recorded{Seq: seq, Subject: r.Subject, Refused: why}
		}
		l = append(l, r)
	}
	return l
}

func TestCheckedLogReportsDamage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		log     sliceLog
		want    []string // problems, in order; none: sound
		maxAge  time.Duration
		note    string
		applied int
	}{
		{name: "sound", log: records(t, []uint64{1, 2, 3}, nil), applied: 3},
		{name: "gap in the middle", log: records(t, []uint64{1, 2, 5, 6}, nil), want: []string{"sequence 3: gap: sequences 3 to 4 are missing"}, applied: 4},
		{name: "refused record", log: records(t, []uint64{1, 2, 3}, map[uint64]string{2: "bad signature"}), want: []string{"sequence 2: refused: bad signature"}, applied: 3},
		{name: "max age dropped the start", log: records(t, []uint64{7, 8, 9}, nil), maxAge: time.Hour, note: "max age (--stream-max-age) dropped the events before", applied: 3},
		{name: "start lost without a max age", log: records(t, []uint64{7, 8, 9}, nil), note: "sequences 1 to 6 were lost", applied: 3},
		{name: "max age and a gap", log: records(t, []uint64{7, 9}, nil), maxAge: time.Hour, note: "begins at sequence 7", want: []string{"sequence 8: gap: sequence 8 is missing"}, applied: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, note, err := Wrap(ctx, tc.log, tc.maxAge)
			if err != nil {
				t.Fatal(err)
			}
			if tc.note == "" && note != "" || !strings.Contains(note, tc.note) {
				t.Errorf("note %q; want %q", note, tc.note)
			}
			applied := 0
			err = src.Replay(ctx, 1, domain.SubjectRoot+".>", func(domain.Recorded) error { applied++; return nil })
			if applied != tc.applied {
				t.Errorf("delivered %d records; want %d", applied, tc.applied)
			}
			var damaged *DamagedError
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("replay of a sound log: %v", err)
				}
				return
			}
			if !errors.As(err, &damaged) || !errors.Is(err, ErrDamaged) {
				t.Fatalf("replay of a damaged log: %v; want a DamagedError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("replay error %q; want %q in it", err, w)
				}
			}
			if len(damaged.Problems) != len(tc.want) {
				t.Errorf("problems %+v; want %d", damaged.Problems, len(tc.want))
			}
		})
	}
}

// TestVerify reads a log that begins at 3, misses 5 and 6, and refuses 8.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	log := records(t, []uint64{3, 4, 7, 8}, map[uint64]string{8: "bad signature"})
	var progress [][2]uint64
	problems, checked, err := Verify(ctx, log, func(done, total uint64) { progress = append(progress, [2]uint64{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if checked != 4 {
		t.Errorf("checked %d events; want 4", checked)
	}
	want := []Problem{
		{Seq: 5, What: "gap: sequences 5 to 6 are missing"},
		{Seq: 8, What: "refused: bad signature on " + log[3].Subject},
	}
	if len(problems) != len(want) {
		t.Fatalf("problems %+v; want %+v", problems, want)
	}
	for i := range want {
		if problems[i] != want[i] {
			t.Errorf("problem %d = %+v; want %+v", i, problems[i], want[i])
		}
	}
	if n := len(progress); n == 0 || progress[n-1] != [2]uint64{4, 6} {
		t.Errorf("progress %v; want it to end at 4/6", progress)
	}
	if problems, checked, err := Verify(ctx, sliceLog{}, func(uint64, uint64) {}); err != nil || checked != 0 || len(problems) != 0 {
		t.Errorf("Verify(empty log) = %v, %d, %v; want nothing", problems, checked, err)
	}
}
