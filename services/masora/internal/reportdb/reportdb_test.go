package reportdb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/reportdb"
)

type column struct {
	Type     string
	Nullable bool
}

// TestTablesMatchDefinitions applies the migrations to a real Postgres and
// checks that every log type's row table has exactly the columns, types and
// nullability derived from the newest definition, and that its hourly
// summary table has the dimensions the definition names.
func TestTablesMatchDefinitions(t *testing.T) {
	env := stacktest.Load(t)
	url := stacktest.PostgresSchema(t, env)
	ctx := context.Background()

	st, err := reportdb.Migrate(ctx, masoratest.ConnConfig(t, url))
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if st.Version != st.Latest || st.Dirty || st.Latest == 0 {
		t.Fatalf("after Migrate: %+v, want version == latest > 0 and clean", st)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	reg := schema.MustLoad()
	for _, name := range reg.Names() {
		lt, err := reg.Latest(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			want := map[string]column{schema.ColLoadedAt: {Type: "timestamp with time zone"}}
			for _, c := range lt.Columns() {
				want[c.Name] = column{Type: schema.PostgresType(c.Type), Nullable: c.Nullable}
			}
			if diff := cmp.Diff(want, tableColumns(t, conn, lt.Table)); diff != "" {
				t.Errorf("table %s differs from definition %s (-want +got):\n%s", lt.Table, lt, diff)
			}

			sum := lt.Summary
			wantSum := map[string]column{
				"hour":             {Type: "timestamp with time zone"},
				"events":           {Type: "bigint"},
				sum.DistinctColumn: {Type: "bigint"},
			}
			for _, d := range sum.Dimensions {
				wantSum[d] = column{Type: "text"}
			}
			if diff := cmp.Diff(wantSum, tableColumns(t, conn, sum.Table)); diff != "" {
				t.Errorf("summary table %s differs from definition %s (-want +got):\n%s", sum.Table, lt, diff)
			}

			var pk []string
			err := conn.QueryRow(ctx, `
				SELECT array_agg(a.attname ORDER BY a.attname)
				FROM pg_index i
				JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
				WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, lt.Table).Scan(&pk)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{schema.FieldEventID}, pk); diff != "" {
				t.Errorf("primary key of %s (-want +got):\n%s", lt.Table, diff)
			}
		})
	}
}

func tableColumns(t *testing.T, conn *pgx.Conn, table string) map[string]column {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
		SELECT column_name, data_type, is_nullable = 'YES'
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]column{}
	for rows.Next() {
		var name string
		var c column
		if err := rows.Scan(&name, &c.Type, &c.Nullable); err != nil {
			t.Fatal(err)
		}
		got[name] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatalf("table %s does not exist in the migrated schema", table)
	}
	return got
}

// TestMigrateIsRepeatable checks a second run applies nothing and a bad URL
// fails with an error that names the step.
func TestMigrateIsRepeatable(t *testing.T) {
	env := stacktest.Load(t)
	url := stacktest.PostgresSchema(t, env)
	ctx := context.Background()
	first, err := reportdb.Migrate(ctx, masoratest.ConnConfig(t, url))
	if err != nil {
		t.Fatal(err)
	}
	second, err := reportdb.Migrate(ctx, masoratest.ConnConfig(t, url))
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second Migrate changed the status (-first +second):\n%s", diff)
	}
	checked, err := reportdb.Check(ctx, masoratest.ConnConfig(t, url))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, checked); diff != "" {
		t.Errorf("Check (-migrate +check):\n%s", diff)
	}
}

func TestMigrateUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens there, the connection is refused.
	_, err := reportdb.Migrate(context.Background(), masoratest.ConnConfig(t, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"))
	if err == nil || !strings.Contains(err.Error(), "connect to reporting database") {
		t.Fatalf("Migrate against a closed port: err = %v, want a connect error", err)
	}
}
