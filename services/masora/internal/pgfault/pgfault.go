// Package pgfault classifies the errors of the reporting Postgres (pgx)
// into fault kinds: the one definition of which of them mean "unavailable,
// retry later" and which mean "Postgres rejected a value of the data".
package pgfault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// SQLSTATE codes Masora tells apart.
const (
	codeUniqueViolation = "23505"
	codeNotNull         = "23502"
	codeCheckViolation  = "23514"

	codeAdminShutdown        = "57P01"
	codeCrashShutdown        = "57P02"
	codeCannotConnectNow     = "57P03"
	codeTooManyConnections   = "53300"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// UniqueViolation reports whether err is Postgres refusing a duplicate key.
func UniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation
}

// Classify wraps err with the operation and the fault kind it belongs to:
// fault.ErrUnavailable when Postgres could not be reached, timed out, is
// shutting down, or failed transiently (Transient); fault.ErrBadObject when Postgres rejected a value of the
// data.
func Classify(op string, err error) error {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case Transient(err), errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code[:2] == "08", pgErr.Code[:2] == "53", pgErr.Code[:2] == "57":
			// connection exception, insufficient resources, operator intervention
			return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
		case pgErr.Code[:2] == "22", pgErr.Code == codeNotNull, pgErr.Code == codeCheckViolation:
			// data exception: a value of the chunk Postgres does not accept
			return fmt.Errorf("%s: %w: %w", op, fault.ErrBadObject, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Transient reports whether err is a failure of Postgres or of the
// connection to it that may pass, after which the whole transaction can be
// tried again: the connection could not be made or broke (a restart, a
// network cut), the server is shutting down or starting, too many
// connections, a serialization failure or deadlock. The caller's context
// ending is not transient. Only retry what is all-or-nothing (a chunk's
// transaction): a COMMIT whose answer was lost may have committed.
func Transient(err error) bool {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case pgconn.SafeToRetry(err), errors.As(err, &connectErr), errors.Is(err, pgconn.ErrConnClosed),
		errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow, codeTooManyConnections,
			codeSerializationFailure, codeDeadlockDetected:
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection exception
	}
	return false
}
