package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/invariant"
	"github.com/ore-masora/pipeline/tools/internal/demo"
)

// Mix is what a scenario publishes: valid events (some of them twice, a
// few as large as SQS takes) and bad messages of every kind Ore
// quarantines (malformed JSON, not an object, missing, mistyped and
// out-of-enum fields, unknown log type, no log type), several of each. A
// body over the size limit cannot be sent: SQS refuses it (1 MiB, the
// pipeline's limit too), so the largest messages are valid ones.
type Mix struct {
	// Valid are the valid events, Duplicates those published again.
	Valid, Duplicates []demo.Message
	// Bad are the bad messages; Message.Bad names the kind.
	Bad []demo.Message
}

// MixOptions size a Mix.
type MixOptions struct {
	// Events is the number of distinct valid events.
	Events int
	// BadRounds is the number of messages of each bad kind.
	BadRounds int
	// Large is the number of valid events padded to nearly the size limit.
	Large int
	// Seed selects the events.
	Seed uint64
	// Now anchors occurred_at (the events happen in the hours before it).
	Now time.Time
}

// NewMix generates a mix with the demo's generator (eventgen sessions,
// duplicates, one bad message of each kind per round), BadRounds rounds.
func NewMix(reg *schema.Registry, opts MixOptions) (*Mix, error) {
	m := &Mix{}
	per := max(opts.Events/max(opts.BadRounds, 1), 10)
	for round := range max(opts.BadRounds, 1) {
		plan, err := demo.Generate(reg, demo.GenerateOptions{Events: per, Seed: opts.Seed + uint64(round), Now: opts.Now})
		if err != nil {
			return nil, err
		}
		m.Valid = append(m.Valid, plan.Valid...)
		m.Duplicates = append(m.Duplicates, plan.Duplicates...)
		m.Bad = append(m.Bad, plan.Bad...)
	}
	if err := m.addLarge(reg, opts); err != nil {
		return nil, err
	}
	// More duplicates than the demo's 2%: a tenth of the events again.
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	for range len(m.Valid) / 10 {
		m.Duplicates = append(m.Duplicates, m.Valid[rng.IntN(len(m.Valid))])
	}
	return m, nil
}

// largeMargin is kept under schema.MaxBodyBytes for the message's
// attributes, which SQS counts toward its limit.
const largeMargin = 1024

// addLarge adds opts.Large valid events padded to nearly the size limit.
func (m *Mix) addLarge(reg *schema.Registry, opts MixOptions) error {
	gen, err := eventgen.New(reg, eventgen.Options{Seed: opts.Seed ^ 0x1a7, Start: opts.Now.Add(-time.Hour), BodyBytes: schema.MaxBodyBytes - largeMargin})
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	for i := range opts.Large {
		ev, err := gen.Event("user_action", i)
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		m.Valid = append(m.Valid, demo.Message{LogType: ev.LogType, Body: ev.Body, EventID: ev.EventID})
	}
	return nil
}

// Only keeps the valid events and duplicates of one log type.
func (m *Mix) Only(logType string) {
	keep := func(msgs []demo.Message) []demo.Message {
		var out []demo.Message
		for _, x := range msgs {
			if x.LogType == logType {
				out = append(out, x)
			}
		}
		return out
	}
	m.Valid, m.Duplicates = keep(m.Valid), keep(m.Duplicates)
}

// Publish sends the mix in a shuffled order: the valid events and their
// duplicates through the producer library, the bad messages with plain
// SendMessage calls (the producer would refuse them). It records in pub
// the event ids and the bad messages' SQS message ids.
func (m *Mix) Publish(ctx context.Context, client *sqs.Client, queueURL string, rng *rand.Rand, pub *invariant.Published) error {
	prod, err := producer.New(client, producer.Options{QueueURL: queueURL})
	if err != nil {
		return err
	}
	msgs := append(append(append([]demo.Message(nil), m.Valid...), m.Duplicates...), m.Bad...)
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	var events []producer.Event
	flush := func() error {
		for _, r := range prod.PublishBatch(ctx, events) {
			if r.Err != nil {
				return fmt.Errorf("publish event %s: %w", r.EventID, r.Err)
			}
			pub.AddEvent(events[r.Index].LogType, r.EventID)
		}
		events = events[:0]
		return nil
	}
	for _, msg := range msgs {
		if msg.Bad == "" {
			events = append(events, producer.Event{LogType: msg.LogType, Body: msg.Body})
			if len(events) == 100 {
				if err := flush(); err != nil {
					return err
				}
			}
			continue
		}
		id, err := SendRaw(ctx, client, queueURL, msg.LogType, msg.Body)
		if err != nil {
			return fmt.Errorf("send bad message (%s): %w", msg.Bad, err)
		}
		pub.AddBad(msg.Bad, id)
	}
	return flush()
}

// SendRaw sends a body with a log_type attribute ("" sends none) around
// the producer library and returns its SQS message id.
func SendRaw(ctx context.Context, client *sqs.Client, queueURL, logType string, body []byte) (string, error) {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(body))}
	if logType != "" {
		in.MessageAttributes = map[string]sqstypes.MessageAttributeValue{
			schema.AttributeLogType: {DataType: aws.String("String"), StringValue: aws.String(logType)},
		}
	}
	out, err := client.SendMessage(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.MessageId), nil
}
