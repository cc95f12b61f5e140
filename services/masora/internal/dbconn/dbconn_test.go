package dbconn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/cloudsqlconn"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/masora/internal/dbconn"
	"github.com/ore-masora/pipeline/services/masora/internal/reportdb"
)

// localDialer stands in for the Cloud SQL connector: it records the
// instances it is asked for and hands back a real connection to the local
// Postgres, as the connector hands back one to the instance.
type localDialer struct {
	addr string // host:port of the local Postgres
	err  error  // returned instead of dialing, when set

	mu        sync.Mutex
	instances []string
}

func (d *localDialer) Dial(ctx context.Context, instance string, _ ...cloudsqlconn.DialOption) (net.Conn, error) {
	d.mu.Lock()
	d.instances = append(d.instances, instance)
	d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", d.addr)
}

func (d *localDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.instances...)
}

// testDatabase returns the test's own Postgres schema: a connection string
// that reaches it directly, one as a Cloud SQL deployment would write it
// (database, user and search_path, the host a closed port and TLS required,
// so that only the dialer can connect it), and the server's address.
func testDatabase(t *testing.T) (direct, viaConnector, addr string) {
	t.Helper()
	env := stacktest.Load(t)
	direct = stacktest.PostgresSchema(t, env)
	pc, err := pgconn.ParseConfig(direct)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(pc.Host, "/") {
		t.Skipf("DATABASE_URL names a Unix socket (%s); this test dials TCP", pc.Host)
	}
	viaConnector = fmt.Sprintf("host=127.0.0.1 port=1 sslmode=require connect_timeout=5 user=%s dbname=%s search_path=%s",
		pc.User, pc.Database, pc.RuntimeParams["search_path"])
	if pc.Password != "" {
		viaConnector += " password=" + pc.Password
	}
	return direct, viaConnector, net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
}

// TestPoolDialsWithConnector builds the pool as Masora does, with and
// without a Cloud SQL instance, against the local Postgres: through the
// connector every connection comes from its dialer, for the instance
// configured (and Postgres's own TLS is left to it); without one the dialer
// is never used.
func TestPoolDialsWithConnector(t *testing.T) {
	direct, viaConnector, addr := testDatabase(t)
	const instance = "my-project:europe-west1:reports"
	for _, tc := range []struct {
		name     string
		url      string
		instance string
		want     []string // instances dialed by the first connection
	}{
		{"CloudSQL", viaConnector, instance, []string{instance}},
		{"DatabaseURL", direct, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &localDialer{addr: addr}
			pool, err := dbconn.Pool(t.Context(), dbconn.Options{DatabaseURL: tc.url, MaxConns: 2, Instance: tc.instance, Dialer: d})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			var schema string
			if err := pool.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
				t.Fatalf("query through the pool: %v", err)
			}
			pc, _ := pgconn.ParseConfig(direct)
			if schema != pc.RuntimeParams["search_path"] {
				t.Errorf("current_schema() = %q, want the test's schema %q", schema, pc.RuntimeParams["search_path"])
			}
			if diff := cmp.Diff(tc.want, d.dialed()); diff != "" {
				t.Errorf("instances dialed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMigrateWithConnector runs the migrations, as the migrate job does,
// over the connection configuration that dials through the connector.
func TestMigrateWithConnector(t *testing.T) {
	_, viaConnector, addr := testDatabase(t)
	d := &localDialer{addr: addr}
	cc, err := dbconn.ConnConfig(dbconn.Options{DatabaseURL: viaConnector, Instance: "p:us-central1:i", Dialer: d})
	if err != nil {
		t.Fatal(err)
	}
	st, err := reportdb.Migrate(t.Context(), cc)
	if err != nil {
		t.Fatalf("Migrate through the connector: %v", err)
	}
	if st.Version != st.Latest || st.Dirty {
		t.Errorf("after Migrate: %+v, want at the latest version, clean", st)
	}
	if len(d.dialed()) == 0 {
		t.Error("the migrations connected without the connector's dialer")
	}
}

// TestDialErrorNamesInstance checks that a failure of the connector says
// which instance it was dialing.
func TestDialErrorNamesInstance(t *testing.T) {
	d := &localDialer{err: errors.New("permission denied: cloudsql.instances.connect")}
	pool, err := dbconn.Pool(t.Context(), dbconn.Options{DatabaseURL: "user=masora@p.iam dbname=reports connect_timeout=2", Instance: "p:us-central1:i", Dialer: d})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	err = pool.Ping(t.Context())
	if err == nil || !strings.Contains(err.Error(), "Cloud SQL instance p:us-central1:i: permission denied") {
		t.Errorf("Ping = %v, want the dialer's error naming the instance", err)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    dbconn.Options
		want string
	}{
		{"InstanceWithoutDialer", dbconn.Options{DatabaseURL: "user=a@p.iam dbname=r", Instance: "p:r:i"}, "Cloud SQL instance p:r:i: no dialer"},
		{"BadURL", dbconn.Options{DatabaseURL: "postgres://%zz"}, "DATABASE_URL: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dbconn.PoolConfig(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("PoolConfig = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewCloudSQLDialerRejectsIPType(t *testing.T) {
	_, err := dbconn.NewCloudSQLDialer(t.Context(), "internal")
	if err == nil || !strings.Contains(err.Error(), `unknown Cloud SQL IP type "internal": want public, private or psc`) {
		t.Errorf("NewCloudSQLDialer(internal) = %v, want an error naming the IP types", err)
	}
}
