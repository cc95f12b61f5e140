package invariant

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/quarantine"
)

// bucketIndex is what the bucket holds: data and quarantine objects by
// "name#generation".
type bucketIndex struct {
	data, quarantine map[string]bool
	quarantineNames  []string
}

func objectKey(name string, generation int64) string {
	return name + "#" + strconv.FormatInt(generation, 10)
}

// listBucket lists the data objects under every log type's folder and the
// quarantine objects; an object there that is not in the layout is a
// violation (Masora ignores it).
func (c *checker) listBucket(ctx context.Context) error {
	ix := &bucketIndex{data: map[string]bool{}, quarantine: map[string]bool{}}
	folders := append(c.reg.Names(), layout.QuarantineDir)
	for _, folder := range folders {
		it := c.t.Bucket.Objects(ctx, &storage.Query{Prefix: layout.LogTypePrefix(c.t.Prefix, folder)})
		for {
			attrs, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return fmt.Errorf("list %s: %w", layout.LogTypePrefix(c.t.Prefix, folder), err)
			}
			o, err := layout.Parse(c.t.Prefix, attrs.Name)
			if err != nil {
				c.violate(Manifest, "object %s is not in the pipeline layout, so Masora ignores it: %v", attrs.Name, err)
				continue
			}
			k := objectKey(attrs.Name, attrs.Generation)
			if o.Kind == layout.Quarantine {
				ix.quarantine[k] = true
				ix.quarantineNames = append(ix.quarantineNames, attrs.Name)
			} else {
				ix.data[k] = true
			}
		}
	}
	c.report.Counts.DataObjects, c.report.Counts.QuarantineObjects = len(ix.data), len(ix.quarantine)
	c.bucketIx = ix
	return nil
}

// quarantine checks that every bad message is in a quarantine object with
// a reason, counted by message id, and that no other message is.
func (c *checker) quarantine(ctx context.Context) error {
	type seen struct {
		body, reason string
		objects      int
	}
	got := map[string]*seen{}
	for _, name := range c.bucketIx.quarantineNames {
		r, err := c.t.Bucket.Object(name).NewReader(ctx)
		if err != nil {
			return fmt.Errorf("read quarantine object %s: %w", name, err)
		}
		err = quarantine.Decode(r, func(rec quarantine.Record) error {
			c.report.Counts.QuarantineRecords++
			body, err := rec.OriginalBody()
			if err != nil {
				c.violate(Quarantine, "quarantine object %s: %v", name, err)
			}
			s := got[rec.MessageID]
			if s == nil {
				got[rec.MessageID] = &seen{body: string(body), reason: rec.Reason, objects: 1}
				if rec.Reason == "" {
					c.violate(Quarantine, "message %s is quarantined in %s without a reason", rec.MessageID, name)
				}
				return nil
			}
			c.report.Counts.QuarantineRepeats++
			s.objects++
			if s.body != string(body) {
				c.violate(Quarantine, "message %s is quarantined twice with different bodies (second in %s)", rec.MessageID, name)
			}
			return nil
		})
		r.Close()
		if err != nil {
			c.violate(Quarantine, "quarantine object %s cannot be decoded: %v", name, err)
		}
	}
	c.report.Counts.QuarantineMessages = len(got)
	bad := c.badSet()
	c.report.Counts.Bad = len(bad)
	for kind, ids := range c.p.Bad {
		var missing []string
		for _, id := range ids {
			if got[id] == nil {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			c.violate(Quarantine, "%d of %d bad messages of kind %q are not in quarantine: %s", len(missing), len(ids), kind, examples(missing, c.opts.Examples))
		}
	}
	var extra []string
	for id := range got {
		if !bad[id] {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		c.violate(Quarantine, "%d messages are in quarantine that were not published as bad messages (a valid message quarantined?): %s",
			len(extra), examples(extra, c.opts.Examples))
	}
	return nil
}

// manifest checks that masora_manifest names exactly the data objects in
// the bucket (name and generation), and only objects that exist. Entries of
// quarantine objects must exist, and with Options.QuarantineTables they
// must be every quarantine object.
func (c *checker) manifest(ctx context.Context) error {
	rows, err := c.t.DB.Query(ctx, `SELECT object_name, generation FROM masora_manifest`)
	if err != nil && !undefinedTable(err) {
		return fmt.Errorf("read masora_manifest: %w", err)
	}
	var keys [][2]string
	if err == nil {
		keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
			var name string
			var gen int64
			err := r.Scan(&name, &gen)
			return [2]string{name, objectKey(name, gen)}, err
		})
	}
	if undefinedTable(err) {
		c.violate(Manifest, "table masora_manifest does not exist (migrations not applied?)")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read masora_manifest: %w", err)
	}
	c.report.Counts.ManifestEntries = len(keys)
	data, quar := map[string]bool{}, map[string]bool{}
	var foreign []string
	for _, k := range keys {
		o, err := layout.Parse(c.t.Prefix, k[0])
		switch {
		case err != nil:
			foreign = append(foreign, k[1])
		case o.Kind == layout.Quarantine:
			quar[k[1]] = true
		default:
			data[k[1]] = true
		}
	}
	if len(foreign) > 0 {
		c.violate(Manifest, "%d manifest entries are not objects of prefix %q: %s", len(foreign), c.t.Prefix, examples(foreign, c.opts.Examples))
	}
	ix := c.bucketIx
	if unloaded := difference(ix.data, data); len(unloaded) > 0 {
		c.violate(Manifest, "%d of the %d data objects in the bucket are not in the manifest (never loaded): %s",
			len(unloaded), len(ix.data), examples(unloaded, c.opts.Examples))
	}
	if ghosts := append(difference(data, ix.data), difference(quar, ix.quarantine)...); len(ghosts) > 0 {
		c.violate(Manifest, "%d manifest entries name no object in the bucket (name#generation): %s", len(ghosts), examples(ghosts, c.opts.Examples))
	}
	if c.opts.QuarantineTables {
		if unloaded := difference(ix.quarantine, quar); len(unloaded) > 0 {
			c.violate(Manifest, "%d of the %d quarantine objects in the bucket are not in the manifest (never loaded): %s",
				len(unloaded), len(ix.quarantine), examples(unloaded, c.opts.Examples))
		}
	}
	return nil
}

// queues checks that the queue is drained and the DLQ holds what the
// scenario expects.
func (c *checker) queues(ctx context.Context) error {
	if c.t.SQS == nil {
		return nil
	}
	if c.t.QueueURL != "" {
		visible, hidden, err := QueueDepth(ctx, c.t.SQS, c.t.QueueURL)
		if err != nil {
			return err
		}
		if visible+hidden > 0 {
			c.violate(Queues, "the queue still holds %d messages (%d of them in flight): the pipeline had not settled", visible+hidden, hidden)
		}
	}
	if c.t.DLQURL != "" {
		visible, hidden, err := QueueDepth(ctx, c.t.SQS, c.t.DLQURL)
		if err != nil {
			return err
		}
		if n := visible + hidden; n != c.opts.DLQMessages {
			c.violate(Queues, "the DLQ holds %d messages, the scenario expects %d", n, c.opts.DLQMessages)
		}
	}
	return nil
}

// QueueDepth returns the messages of a queue: visible (delayed included)
// and in flight.
func QueueDepth(ctx context.Context, client *sqs.Client, queueURL string) (visible, hidden int, err error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read the depth of queue %s: %w", queueURL, err)
	}
	n := func(a sqstypes.QueueAttributeName) int {
		v, _ := strconv.Atoi(out.Attributes[string(a)])
		return v
	}
	return n(sqstypes.QueueAttributeNameApproximateNumberOfMessages) + n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed),
		n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible), nil
}
