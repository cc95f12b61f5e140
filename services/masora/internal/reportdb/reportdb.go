// Package reportdb owns the reporting database's schema: it applies the
// numbered, forward-only migrations embedded from schemas/migrations with
// golang-migrate, and reports which version a database is at.
package reportdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ore-masora/pipeline/schemas"
)

// Status is the migration state of a database.
type Status struct {
	// Version is the last applied migration, 0 when none is.
	Version uint
	// Latest is the newest migration this build knows.
	Latest uint
	// Dirty is true when a migration failed half way and needs a person.
	Dirty bool
}

// Migrate applies every migration not yet applied to the database conn
// connects to (its search_path decides the schema; its DialFunc, if any, how
// it is reached, e.g. the Cloud SQL connector of package dbconn). It is safe
// to run concurrently: golang-migrate holds an advisory lock.
func Migrate(ctx context.Context, conn *pgx.ConnConfig) (Status, error) {
	m, closeFn, err := open(ctx, conn)
	if err != nil {
		return Status{}, err
	}
	defer closeFn()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return Status{}, fmt.Errorf("apply migrations: %w", err)
	}
	return status(m)
}

// Check returns the migration state without changing anything.
func Check(ctx context.Context, conn *pgx.ConnConfig) (Status, error) {
	m, closeFn, err := open(ctx, conn)
	if err != nil {
		return Status{}, err
	}
	defer closeFn()
	return status(m)
}

func open(ctx context.Context, conn *pgx.ConnConfig) (*migrate.Migrate, func(), error) {
	db := stdlib.OpenDB(*conn)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("connect to reporting database: %w", err)
	}
	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("prepare migrations: %w", err)
	}
	src, err := iofs.New(schemas.Migrations, "migrations")
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("prepare migrations: %w", err)
	}
	return m, func() { m.Close() }, nil
}

func status(m *migrate.Migrate) (Status, error) {
	latest, err := latestVersion()
	if err != nil {
		return Status{}, err
	}
	v, dirty, err := m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return Status{Latest: latest}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("read migration version: %w", err)
	}
	return Status{Version: v, Latest: latest, Dirty: dirty}, nil
}

func latestVersion() (uint, error) {
	src, err := iofs.New(schemas.Migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("read embedded migrations: %w", err)
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return 0, fmt.Errorf("read embedded migrations: %w", err)
	}
	for {
		next, err := src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return v, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read embedded migrations: %w", err)
		}
		v = next
	}
}
