package eventstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stamp-oauth/stamp/domain"
)

// ConsumerState is where a durable consumer of the STAMP stream stands.
type ConsumerState struct {
	// Name is the durable name (a listener's Name).
	Name string
	// Filter is its subject filter (several joined by commas); stamp.>
	// when it takes every event.
	Filter string
	// Pending counts the matching events not yet delivered.
	Pending uint64
	// AckPending counts the events delivered and not yet settled: 0 or 1
	// for a consumer of Deliver.
	AckPending int
	// Redelivered counts the unsettled events delivered more than once.
	Redelivered int
	// LastDelivered is the stream sequence of the last event delivered.
	LastDelivered uint64
}

// Consumers returns the durable consumers of the STAMP stream, those of
// Deliver and any other, by name; the ephemeral ones of Read are left out.
// None is an empty slice and no error.
func (s *Store) Consumers(ctx context.Context) ([]ConsumerState, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	stream, err := s.js.Stream(ctx, domain.StreamName)
	if err != nil {
		return nil, fmt.Errorf("eventstore: consumers: %w", err)
	}
	out := []ConsumerState{}
	list := stream.ListConsumers(ctx)
	for info := range list.Info() {
		if info.Config.Durable == "" {
			continue
		}
		filter := info.Config.FilterSubject
		if filter == "" {
			filter = strings.Join(info.Config.FilterSubjects, ",")
		}
		if filter == "" {
			filter = domain.SubjectRoot + ".>"
		}
		out = append(out, ConsumerState{
			Name:          info.Name,
			Filter:        filter,
			Pending:       info.NumPending,
			AckPending:    info.NumAckPending,
			Redelivered:   info.NumRedelivered,
			LastDelivered: info.Delivered.Stream,
		})
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("eventstore: consumers: %w", err)
	}
	slices.SortFunc(out, func(a, b ConsumerState) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}
