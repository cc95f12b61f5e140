package loader

import (
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// stageTable is the per-transaction staging table of the slow path.
const stageTable = "masora_stage"

// table is everything the loader needs to write one log type: its columns,
// how to convert each transform-result value, and its SQL, built once from
// the definition with every identifier quoted.
type table struct {
	lt       *schema.LogType
	name     pgx.Identifier
	columns  []string
	convert  []converter
	occurred int   // index of occurred_at among the columns
	dims     []int // indexes of the summary's dimensions
	distinct int   // index of the summary's distinct column

	createStage     string
	insertFromStage string
	deleteSummary   string
	insertSummary   string
	existingHours   string
	insertAgg       string
}

func newTable(lt *schema.LogType) (*table, error) {
	t := &table{lt: lt, name: pgx.Identifier{lt.Table}, occurred: -1, distinct: -1}
	index := map[string]int{}
	for i, c := range lt.Columns() {
		index[c.Name] = i
		conv, err := newConverter(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lt, err)
		}
		t.columns = append(t.columns, c.Name)
		t.convert = append(t.convert, conv)
		if c.Name == schema.FieldOccurredAt {
			t.occurred = i
		}
	}
	if t.occurred < 0 {
		return nil, fmt.Errorf("%s has no %s column", lt, schema.FieldOccurredAt)
	}
	// The definition guarantees these are required string fields.
	for _, d := range lt.Summary.Dimensions {
		t.dims = append(t.dims, index[d])
	}
	t.distinct = index[lt.Summary.Distinct]
	cols := quoteAll(t.columns)
	tbl := t.name.Sanitize()
	t.createStage = fmt.Sprintf(`CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP`,
		pgx.Identifier{stageTable}.Sanitize(), tbl)
	t.insertFromStage = fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) DO NOTHING`,
		tbl, cols, cols, pgx.Identifier{"pg_temp", stageTable}.Sanitize(), quote(schema.FieldEventID))

	// The summary of the touched hours is recomputed from the row table:
	// delete those hours, then count again. The inner GROUP BY makes the
	// distinct count a hash aggregate instead of a sort per group.
	s := lt.Summary
	dims := quoteAll(s.Dimensions)
	sum := pgx.Identifier{s.Table}.Sanitize()
	t.deleteSummary = fmt.Sprintf(`DELETE FROM %s WHERE "hour" = ANY($1::timestamptz[])`, sum)
	t.insertSummary = fmt.Sprintf(`
		INSERT INTO %[1]s ("hour", %[2]s, "events", %[3]s)
		SELECT g.hour, %[4]s, sum(g.n), count(*)
		FROM (
			SELECT h.hour, %[5]s, r.%[6]s, count(*) AS n
			FROM unnest($1::timestamptz[]) AS h(hour)
			JOIN %[7]s AS r ON r.%[8]s >= h.hour AND r.%[8]s < h.hour + interval '1 hour'
			GROUP BY h.hour, %[5]s, r.%[6]s
		) AS g
		GROUP BY g.hour, %[4]s`,
		sum, dims, quote(s.DistinctColumn),
		prefixAll("g.", s.Dimensions), prefixAll("r.", s.Dimensions), quote(s.Distinct),
		tbl, quote(schema.FieldOccurredAt))
	t.existingHours = fmt.Sprintf(`SELECT DISTINCT "hour" FROM %s WHERE "hour" = ANY($1::timestamptz[])`, sum)
	arrays := []string{"$1::timestamptz[]"}
	for i := range s.Dimensions {
		arrays = append(arrays, fmt.Sprintf("$%d::text[]", i+2))
	}
	arrays = append(arrays, fmt.Sprintf("$%d::bigint[]", len(s.Dimensions)+2), fmt.Sprintf("$%d::bigint[]", len(s.Dimensions)+3))
	t.insertAgg = fmt.Sprintf(`INSERT INTO %s ("hour", %s, "events", %s) SELECT * FROM unnest(%s)`,
		sum, dims, quote(s.DistinctColumn), strings.Join(arrays, ", "))
	return t, nil
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

func prefixAll(prefix string, names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = prefix + quote(n)
	}
	return strings.Join(q, ", ")
}

// converter turns one transform-result value, as the BigQuery row iterator
// yields it, into the value pgx copies into the column.
type converter func(v bigquery.Value) (any, error)

func newConverter(c schema.Column) (converter, error) {
	var conv converter
	switch c.Type {
	case schema.TypeString, schema.TypeJSON:
		// JSON text goes to jsonb as is; Postgres checks it.
		conv = want[string]
	case schema.TypeUUID:
		conv = func(v bigquery.Value) (any, error) {
			s, ok := v.(string)
			if !ok {
				return nil, typeError(v, "a UUID string")
			}
			u, err := uuid.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a UUID", s)
			}
			return pgtype.UUID{Bytes: u, Valid: true}, nil
		}
	case schema.TypeTimestamp:
		conv = want[time.Time]
	case schema.TypeInt64:
		conv = want[int64]
	case schema.TypeFloat64:
		conv = want[float64]
	case schema.TypeBool:
		conv = want[bool]
	default:
		return nil, fmt.Errorf("column %s: no Postgres conversion for type %q", c.Name, c.Type)
	}
	name, nullable := c.Name, c.Nullable
	return func(v bigquery.Value) (any, error) {
		if v == nil {
			if nullable {
				return nil, nil
			}
			return nil, fmt.Errorf("%w: column %s is required but the row has null", fault.ErrBadObject, name)
		}
		out, err := conv(v)
		if err != nil {
			return nil, fmt.Errorf("%w: column %s: %w", fault.ErrBadObject, name, err)
		}
		return out, nil
	}, nil
}

// want passes v through when it has type T; the value is already boxed, so
// this costs no allocation.
func want[T any](v bigquery.Value) (any, error) {
	if _, ok := v.(T); !ok {
		var zero T
		return nil, typeError(v, fmt.Sprintf("%T", zero))
	}
	return v, nil
}

func typeError(v bigquery.Value, want string) error {
	return fmt.Errorf("got %T, want %s", v, want)
}
