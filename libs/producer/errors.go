package producer

import (
	"errors"
	"fmt"
)

// Errors for events rejected before sending, besides the schema's own
// (*schema.ValidationError, schema.ErrNotJSON and schema.ErrUnknownLogType),
// which Result.Err wraps as they are.
var (
	// ErrBodyTooLarge is returned (wrapped) for an event whose body exceeds
	// schema.MaxBodyBytes, or whose body and attributes together exceed
	// MaxMessageBytes (SQS counts the attributes too) or
	// Options.MaxBatchBytes, so that no SendMessageBatch could carry it.
	ErrBodyTooLarge = errors.New("event too large for one SQS message")
	// ErrInvalidCharacters is returned (wrapped) for a body holding U+FFFE or
	// U+FFFF, which are valid UTF-8 and JSON but which SQS refuses.
	ErrInvalidCharacters = errors.New("event body holds characters SQS does not accept")
)

// SendError reports an event that passed validation but that SQS did not
// accept. Inspect it with errors.As.
type SendError struct {
	// Code is the SQS error code of the last attempt: the entry's code when
	// SendMessageBatch reported the entry as failed (e.g. "InternalError"),
	// or the API error code of the failed call (e.g.
	// "QueueDoesNotExist"). It is empty when the call
	// failed without an API error, such as a network error.
	Code string
	// Message is SQS's explanation of the last failure, if it gave one.
	Message string
	// SenderFault is true when SQS blamed the request for the failure;
	// such failures are not retried, as sending the same entry again
	// cannot succeed.
	SenderFault bool
	// Transient is true when the last failure was transient and the event
	// ran out of attempts (Options.MaxAttempts); publishing it again later
	// may succeed. When false the failure is permanent.
	Transient bool
	// Attempts is how many SendMessageBatch calls carried the event.
	Attempts int
	// Err is the error of the failed SendMessageBatch call, or nil when the
	// call succeeded and SQS reported only this entry as failed.
	Err error
}

// Error says why SQS did not accept the event and whether it was retried.
func (e *SendError) Error() string {
	what := "permanent failure, not retried"
	switch {
	case e.Transient:
		what = fmt.Sprintf("gave up after %d attempts", e.Attempts)
	case e.Attempts > 1:
		what = fmt.Sprintf("permanent failure on attempt %d", e.Attempts)
	}
	reason := e.Message
	if e.Err != nil {
		reason = e.Err.Error()
	}
	if e.Code != "" && e.Err == nil {
		reason = e.Code + ": " + reason
	}
	return fmt.Sprintf("send to SQS (%s): %s", what, reason)
}

// Unwrap returns the error of the failed call, if the whole call failed.
func (e *SendError) Unwrap() error { return e.Err }
