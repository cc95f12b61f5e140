// Package quarantine owns the record format of the messages Ore could not
// write to a parquet file: one JSON object per line of a quarantine object
// (see layout.Quarantine), with the reason and the original body. Ore writes
// it; everything that reads, counts or replays quarantine decodes it here.
package quarantine

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Record is one line of a quarantine object.
type Record struct {
	// MessageID is the SQS message id: the key of a quarantined message. The
	// same message can sit in two quarantine objects (Ore stopped between its
	// upload and its delete, and the message came back in another batch), so
	// whatever counts or replays quarantine counts each MessageID once.
	MessageID string `json:"message_id"`
	// LogType is the log type the message claimed, if any.
	LogType string `json:"log_type,omitempty"`
	// Reason says why the message was not written to a parquet file.
	Reason     string    `json:"reason"`
	ReceivedAt time.Time `json:"received_at"`
	// Attributes are the message attributes with a string value.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Body is the original body when it is valid UTF-8 ...
	Body string `json:"body,omitempty"`
	// ... and BodyBase64 the original body bytes otherwise.
	BodyBase64 string `json:"body_base64,omitempty"`
	// WriterVersion is the Ore build that quarantined the message.
	WriterVersion string `json:"writer_version"`
}

// SetBody keeps body in r: as text when it is valid UTF-8, else base64.
func (r *Record) SetBody(body string) {
	if utf8.ValidString(body) {
		r.Body, r.BodyBase64 = body, ""
		return
	}
	r.Body, r.BodyBase64 = "", base64.StdEncoding.EncodeToString([]byte(body))
}

// OriginalBody returns the message body exactly as it was received.
func (r *Record) OriginalBody() ([]byte, error) {
	if r.BodyBase64 == "" {
		return []byte(r.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(r.BodyBase64)
	if err != nil {
		return nil, fmt.Errorf("quarantined message %s: body_base64: %w", r.MessageID, err)
	}
	return b, nil
}

// Encoder writes records as JSON lines.
type Encoder struct{ enc *json.Encoder }

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &Encoder{enc: enc}
}

// Encode writes one record and its newline.
func (e *Encoder) Encode(r *Record) error {
	if err := e.enc.Encode(r); err != nil {
		return fmt.Errorf("encode quarantine record %s: %w", r.MessageID, err)
	}
	return nil
}

// MaxLine bounds one line of a quarantine object: a record holds one SQS
// message body (at most 1 MiB, base64 makes it 4/3 larger) and its metadata.
const MaxLine = 8 << 20

// Decode reads the JSON lines of one quarantine object and calls fn with each
// record, stopping at the first error. Errors name the line.
func Decode(r io.Reader, fn func(Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	for n := 1; sc.Scan(); n++ {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("line %d: not a quarantine record: %w", n, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read quarantine lines: %w", err)
	}
	return nil
}
