// Package dbconn owns how Masora connects to the reporting Postgres: straight
// to the host DATABASE_URL names, or through the Cloud SQL Go connector
// (cloud.google.com/go/cloudsqlconn) with IAM database authentication, so no
// password exists anywhere. Both give the same pgx configuration; the only
// difference is the function that opens the network connection.
package dbconn

import (
	"context"
	"fmt"
	"net"
	"time"

	"cloud.google.com/go/cloudsqlconn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// IPType is the address of a Cloud SQL instance the connector dials.
type IPType string

// The addresses a Cloud SQL instance may have.
const (
	// PublicIP is the instance's public address: no VPC needed, and no
	// authorized network either, since the connector authorizes each
	// connection with IAM (roles/cloudsql.client) and encrypts it.
	PublicIP IPType = "public"
	// PrivateIP is the instance's address in a VPC the caller reaches
	// (Cloud Run: direct VPC egress).
	PrivateIP IPType = "private"
	// PSC is a Private Service Connect endpoint.
	PSC IPType = "psc"
)

// dialOption is the connector's option for t.
func (t IPType) dialOption() (cloudsqlconn.DialOption, error) {
	switch t {
	case PublicIP:
		return cloudsqlconn.WithPublicIP(), nil
	case PrivateIP:
		return cloudsqlconn.WithPrivateIP(), nil
	case PSC:
		return cloudsqlconn.WithPSC(), nil
	}
	return nil, fmt.Errorf("unknown Cloud SQL IP type %q: want public, private or psc", t)
}

// Dialer opens a connection to a Cloud SQL instance named by its connection
// name (project:region:instance). *cloudsqlconn.Dialer is the real one
// (NewCloudSQLDialer); tests give one that dials a local Postgres.
type Dialer interface {
	Dial(ctx context.Context, instance string, opts ...cloudsqlconn.DialOption) (net.Conn, error)
}

// NewCloudSQLDialer returns the Cloud SQL connector's dialer with automatic
// IAM database authentication (the caller's Google credentials log in as
// the IAM database user; no password), dialing ipType addresses. It
// refreshes the instance's certificate when a connection needs it rather
// than in the background, as the connector advises where the CPU is
// throttled between requests (Cloud Run with CPU only during requests).
// Close it after the pools that use it.
func NewCloudSQLDialer(ctx context.Context, ipType IPType) (*cloudsqlconn.Dialer, error) {
	opt, err := ipType.dialOption()
	if err != nil {
		return nil, err
	}
	d, err := cloudsqlconn.NewDialer(ctx,
		cloudsqlconn.WithIAMAuthN(),
		cloudsqlconn.WithLazyRefresh(),
		cloudsqlconn.WithDefaultDialOptions(opt),
	)
	if err != nil {
		return nil, fmt.Errorf("Cloud SQL connector (IAM database authentication needs Google application default credentials): %w", err)
	}
	return d, nil
}

// Options say how to reach the reporting Postgres.
type Options struct {
	// DatabaseURL is a pgx connection string. Through the connector only
	// its database, user and parameters count: the connector picks the
	// address and encrypts the connection itself.
	DatabaseURL string
	// MaxConns bounds the pool; 0 keeps pgx's default.
	MaxConns int32
	// ConnectTimeout bounds connecting when DatabaseURL does not say
	// (connect_timeout); 0 leaves it unbounded.
	ConnectTimeout time.Duration
	// Instance is the Cloud SQL instance connection name
	// (project:region:instance); empty connects to DatabaseURL's host.
	Instance string
	// Dialer dials Instance; required with it.
	Dialer Dialer
}

// PoolConfig returns the pgx pool configuration of o. Its ConnConfig is also
// what a single connection (the migrations) uses.
func PoolConfig(o Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = o.ConnectTimeout
	}
	if o.Instance == "" {
		return cfg, nil
	}
	if o.Dialer == nil {
		return nil, fmt.Errorf("Cloud SQL instance %s: no dialer", o.Instance)
	}
	// The connector's connection is already TLS to the instance (its
	// server-side proxy), so Postgres's own TLS negotiation is off, and
	// there is exactly one address: the instance.
	cc.TLSConfig = nil
	cc.Fallbacks = nil
	cc.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	instance, dialer := o.Instance, o.Dialer
	cc.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) {
		conn, err := dialer.Dial(ctx, instance)
		if err != nil {
			return nil, fmt.Errorf("Cloud SQL instance %s: %w", instance, err)
		}
		return conn, nil
	}
	return cfg, nil
}

// Pool connects a pool with o.
func Pool(ctx context.Context, o Options) (*pgxpool.Pool, error) {
	cfg, err := PoolConfig(o)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("Postgres pool: %w", err)
	}
	return pool, nil
}

// ConnConfig returns the configuration of one connection with o.
func ConnConfig(o Options) (*pgx.ConnConfig, error) {
	cfg, err := PoolConfig(o)
	if err != nil {
		return nil, err
	}
	return cfg.ConnConfig, nil
}
