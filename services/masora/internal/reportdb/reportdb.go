// Package reportdb owns the reporting database's schema: it applies the
// numbered, forward-only migrations embedded from schemas/migrations with
// golang-migrate, and reports which version a database is at.
package reportdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

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

// Migrate applies every migration not yet applied to the database at
// databaseURL (a pgx connection string; its search_path decides the schema).
// It is safe to run concurrently: golang-migrate holds an advisory lock.
func Migrate(ctx context.Context, databaseURL string) (Status, error) {
	m, closeFn, err := open(ctx, databaseURL)
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
func Check(ctx context.Context, databaseURL string) (Status, error) {
	m, closeFn, err := open(ctx, databaseURL)
	if err != nil {
		return Status{}, err
	}
	defer closeFn()
	return status(m)
}

func open(ctx context.Context, databaseURL string) (*migrate.Migrate, func(), error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("open reporting database: %w", err)
	}
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
