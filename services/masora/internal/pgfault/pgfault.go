// Package pgfault classifies the errors of the reporting Postgres (pgx)
// into fault kinds: the one definition of which of them mean "unavailable,
// retry later" and which mean "Postgres rejected a value of the data".
package pgfault

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// SQLSTATE codes Masora tells apart.
const (
	codeUniqueViolation = "23505"
	codeNotNull         = "23502"
	codeCheckViolation  = "23514"
)

// UniqueViolation reports whether err is Postgres refusing a duplicate key.
func UniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation
}

// Classify wraps err with the operation and the fault kind it belongs to:
// fault.ErrUnavailable when Postgres could not be reached, timed out or is
// shutting down; fault.ErrBadObject when Postgres rejected a value of the
// data.
func Classify(op string, err error) error {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err),
		pgconn.SafeToRetry(err), errors.Is(err, context.DeadlineExceeded):
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
