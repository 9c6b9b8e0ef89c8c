package app

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// listenersReport is what `stamp listeners --json` prints.
type listenersReport struct {
	Consumers []consumerLine `json:"consumers"`
	Parked    []parkedLine   `json:"parked"`
	// ReadModels are the events the read models parked (see
	// projections.ParkedEvent).
	ReadModels []projections.ParkedEvent `json:"read_models_parked"`
}

// consumerLine is one durable consumer as the CLI prints it.
type consumerLine struct {
	Name          string `json:"name"`
	Filter        string `json:"filter"`
	Pending       uint64 `json:"pending"`
	AckPending    int    `json:"ack_pending"`
	Redelivered   int    `json:"redelivered"`
	LastDelivered uint64 `json:"last_delivered"`
}

// parkedLine is one parked message as the CLI prints it. Type and EventID
// are empty when the message is not an event envelope.
type parkedLine struct {
	Listener string    `json:"listener"`
	Seq      uint64    `json:"seq"`
	Subject  string    `json:"subject"`
	Type     string    `json:"type"`
	EventID  string    `json:"event_id"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	Time     time.Time `json:"time"`
}

// cmdListeners shows where the listeners stand: the durable consumers of
// the stream with their backlog, and the events they parked for an
// operator. It reads the log's NATS server (the running server's, or the
// embedded one on the data directory) and changes nothing.
func cmdListeners(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("listeners", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	l, err := openCLILog(ctx, c, newLogger(c, io.Stderr))
	if err != nil {
		return err
	}
	defer l.Close()
	report, err := readListeners(ctx, l.Store)
	if err != nil {
		return err
	}
	if report.ReadModels, err = readModelParked(ctx, c, l); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(io.Stdout, report)
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	if len(report.Consumers) == 0 {
		fmt.Fprintln(tw, "No durable consumers.")
	} else {
		fmt.Fprintln(tw, "CONSUMER\tFILTER\tPENDING\tACK PENDING\tREDELIVERED\tLAST DELIVERED")
		for _, cl := range report.Consumers {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", cl.Name, cl.Filter, cl.Pending, cl.AckPending, cl.Redelivered, cl.LastDelivered)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(io.Stdout)
	if len(report.Parked) == 0 {
		fmt.Fprintln(tw, "No parked events.")
	} else {
		fmt.Fprintln(tw, "PARKED BY\tSEQ\tTYPE\tEVENT ID\tATTEMPTS\tPARKED AT\tREASON")
		for _, p := range report.Parked {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\t%s\n", p.Listener, p.Seq, orDash(p.Type), orDash(p.EventID),
				p.Attempts, p.Time.Format(time.RFC3339), p.Reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(report.Parked) > 0 {
		fmt.Fprintln(io.Stdout, "Once the cause is fixed: stamp listeners retry LISTENER --event SEQ (or --all).")
	}
	fmt.Fprintln(io.Stdout)
	if len(report.ReadModels) == 0 {
		fmt.Fprintln(tw, "No events parked by the read models.")
	} else {
		fmt.Fprintln(tw, "PARKED BY\tSEQ\tTYPE\tSUBJECT\tREASON")
		for _, p := range report.ReadModels {
			fmt.Fprintf(tw, "read models\t%d\t%s\t%s\t%s\n", p.Seq, orDash(p.Type), p.Subject, p.Reason)
		}
	}
	return tw.Flush()
}

// readListeners collects the durable consumers and every parked message.
func readListeners(ctx context.Context, s *eventstore.Store) (listenersReport, error) {
	consumers, err := s.Consumers(ctx)
	if err != nil {
		return listenersReport{}, err
	}
	parked, err := s.Parked(ctx, "")
	if err != nil {
		return listenersReport{}, err
	}
	r := listenersReport{Consumers: make([]consumerLine, 0, len(consumers)), Parked: make([]parkedLine, 0, len(parked))}
	for _, c := range consumers {
		r.Consumers = append(r.Consumers, consumerLine{
			Name: c.Name, Filter: c.Filter, Pending: c.Pending, AckPending: c.AckPending,
			Redelivered: c.Redelivered, LastDelivered: c.LastDelivered,
		})
	}
	for _, p := range parked {
		r.Parked = append(r.Parked, parkedLine{
			Listener: p.Listener, Seq: p.Seq, Subject: p.Subject, Type: p.Envelope.Type, EventID: p.Envelope.ID,
			Reason: p.Reason, Attempts: p.Attempts, Time: p.Time,
		})
	}
	return r, nil
}
