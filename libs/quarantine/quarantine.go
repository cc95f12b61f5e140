// Package quarantine owns the record format of the messages Ore could not
// write to a parquet file: one JSON object per line of a quarantine object
// (see layout.Quarantine), with the reason and the original body. Ore writes
// it; everything that reads, counts or replays quarantine decodes it here.
package quarantine

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/ore-masora/pipeline/libs/schema"
)

// Kind is a stable category of the reason a message was quarantined, for
// counting and filtering; Record.Reason keeps the full text.
type Kind string

// The kinds of reasons Ore quarantines a message for.
const (
	// KindOversize: the body is over schema.MaxBodyBytes.
	KindOversize Kind = "oversize"
	// KindNoLogType: no log_type message attribute and no log_type string
	// field in the body.
	KindNoLogType Kind = "no_log_type"
	// KindUnknownLogType: the log type is not one the schema defines.
	KindUnknownLogType Kind = "unknown_log_type"
	// KindInvalidText: the body is not valid UTF-8 text.
	KindInvalidText Kind = "invalid_text"
	// KindMalformedJSON: the body is UTF-8 but not a JSON object.
	KindMalformedJSON Kind = "malformed_json"
	// KindInvalidFields: the body is a JSON object that fails the log
	// type's definition (missing, mistyped or out-of-range fields).
	KindInvalidFields Kind = "invalid_fields"
	// KindUnclassified: the record has no kind, because an Ore that did
	// not classify reasons wrote it, or its reason is none of the above.
	KindUnclassified Kind = "unclassified"
)

// KindOf returns the kind of an error of libs/schema's decoder
// (schema.LogType.Decode): KindOversize, KindInvalidText, KindMalformedJSON
// or KindInvalidFields; KindUnclassified for any other error.
func KindOf(err error) Kind {
	var (
		size    *schema.SizeError
		invalid *schema.ValidationError
	)
	switch {
	case errors.As(err, &invalid):
		return KindInvalidFields
	case errors.As(err, &size):
		return KindOversize
	case errors.Is(err, schema.ErrNotUTF8):
		return KindInvalidText
	case errors.Is(err, schema.ErrNotJSON):
		return KindMalformedJSON
	}
	return KindUnclassified
}

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
	Reason string `json:"reason"`
	// ReasonKind is the reason's category. Records written before kinds
	// existed have none: see Kind.
	ReasonKind Kind      `json:"reason_kind,omitempty"`
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

// Kind returns the record's reason kind, KindUnclassified when it has none.
func (r *Record) Kind() Kind {
	if r.ReasonKind == "" {
		return KindUnclassified
	}
	return r.ReasonKind
}

// Origin is what a quarantined body says about where it came from.
type Origin struct {
	// Source and EventID are the body's top-level source and event_id
	// fields when the body is a JSON object holding them as non-empty
	// strings; empty otherwise.
	Source, EventID string
}

// Origin reads the source and event_id of the record's body, as far as the
// body is a JSON object that has them. A body that is not one (it was
// quarantined, after all) has no origin.
func (r *Record) Origin() Origin {
	var fields map[string]json.RawMessage
	if r.BodyBase64 != "" || json.Unmarshal([]byte(r.Body), &fields) != nil {
		return Origin{}
	}
	str := func(name string) string {
		var s string
		if json.Unmarshal(fields[name], &s) != nil {
			return ""
		}
		return s
	}
	return Origin{Source: str(schema.FieldSource), EventID: str(schema.FieldEventID)}
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

// ErrMalformed is returned (wrapped) for a line that is not a quarantine
// record: not a JSON object of a record, over MaxLine, or without the
// message id and receive time every record has.
var ErrMalformed = errors.New("not a quarantine record")

// Reader reads the JSON lines of one quarantine object, one record at a
// time.
type Reader struct {
	sc   *bufio.Scanner
	line int
}

// NewReader returns a Reader of the object r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	return &Reader{sc: sc}
}

// Next returns the next record, or io.EOF after the last. An error for a
// bad line wraps ErrMalformed and names the line; an error reading the
// object does not wrap it.
func (d *Reader) Next() (Record, error) {
	if !d.sc.Scan() {
		err := d.sc.Err()
		switch {
		case err == nil:
			return Record{}, io.EOF
		case errors.Is(err, bufio.ErrTooLong):
			return Record{}, fmt.Errorf("line %d: %w: longer than %d bytes", d.line+1, ErrMalformed, MaxLine)
		}
		return Record{}, fmt.Errorf("read quarantine lines: %w", err)
	}
	d.line++
	var rec Record
	if err := json.Unmarshal(d.sc.Bytes(), &rec); err != nil {
		return Record{}, fmt.Errorf("line %d: %w: %w", d.line, ErrMalformed, err)
	}
	switch {
	case rec.MessageID == "":
		return Record{}, fmt.Errorf("line %d: %w: no message_id", d.line, ErrMalformed)
	case rec.ReceivedAt.IsZero():
		return Record{}, fmt.Errorf("line %d: %w: no received_at", d.line, ErrMalformed)
	}
	return rec, nil
}

// Decode reads the JSON lines of one quarantine object and calls fn with each
// record, stopping at the first error. Errors name the line; see Reader.Next.
func Decode(r io.Reader, fn func(Record) error) error {
	d := NewReader(r)
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
