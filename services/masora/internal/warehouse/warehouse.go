// Package warehouse owns Masora's use of BigQuery: for one chunk it creates
// an external table per schema version over exactly the chunk's parquet URIs
// of that version, with that version's explicit schema from the shared
// definition, runs the log type's transform SQL over them (the older
// versions padded to the latest's columns) and streams the result back.
package warehouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/bqschema"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/gcpfault"
)

// SourceTablePlaceholder is the one substitution a transform may contain:
// it is replaced by the chunk's source, the backquoted identifier of its
// external table or, for a chunk with files of older schema versions, a
// generated UNION ALL subquery over one external table per version, with
// the latest version's columns (see Transform).
const SourceTablePlaceholder = "{{source_table}}"

// Warehouse runs transforms in one BigQuery dataset.
type Warehouse struct {
	client      *bigquery.Client
	project     string
	dataset     string
	location    string
	callTimeout time.Duration
	keepTables  bool
	transforms  map[string]*transform // by log type name
}

type transform struct {
	lt       *schema.LogType // the latest version
	sql      string          // with SourceTablePlaceholder
	versions map[int]*version
}

// version is what a chunk's external table over files of one schema
// version needs: that version's explicit schema, and the select list that
// reads its table as the latest version (CAST(NULL AS …) for the columns
// it lacks).
type version struct {
	lt     *schema.LogType
	schema bigquery.Schema
	// selectList reads the version's table with the latest version's
	// columns, in order (bqschema.SelectList, which the analysts' views in
	// infra/gcp share).
	selectList string
}

// Source is the objects of one schema version in a chunk: each external
// table spans files of one version only, since BigQuery reads a parquet
// file against its table's schema by column, and files of different
// versions have different columns.
type Source struct {
	// Version is the schema version of the definition the files were
	// written with (their footer's log_type_version).
	Version int
	// URIs are the files' gs:// URIs.
	URIs []string
}

// Options configure a Warehouse.
type Options struct {
	// Dataset holds the external tables.
	Dataset string
	// Location is where jobs run; empty lets BigQuery decide.
	Location string
	// CallTimeout bounds each call: creating or deleting a table, running a
	// query to completion. The BigQuery client retries some failures until
	// its context ends, so every call needs a deadline.
	CallTimeout time.Duration
	// KeepTables leaves each external table to expire (after 24 hours)
	// instead of deleting it when its query is done.
	KeepTables bool
}

var (
	identPattern = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	// projectPattern accepts project IDs, including domain-scoped ones
	// (example.com:my-project).
	projectPattern = regexp.MustCompile(`^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
)

// ValidProject reports whether id is a Google Cloud project ID, including a
// domain-scoped one (example.com:my-project).
func ValidProject(id string) bool { return projectPattern.MatchString(id) }

// ValidDataset reports whether id is a BigQuery dataset ID: letters, digits
// and underscores.
func ValidDataset(id string) bool { return identPattern.MatchString(id) }

// New returns a Warehouse for the latest version of every log type in reg,
// reading each log type's transform from transforms
// (<log_type>/transform.sql). It fails if a transform is missing or does
// not contain SourceTablePlaceholder exactly once.
func New(client *bigquery.Client, reg *schema.Registry, transforms fs.FS, opts Options) (*Warehouse, error) {
	if !ValidProject(client.Project()) {
		return nil, fmt.Errorf("BigQuery project %q is not a project ID", client.Project())
	}
	if !ValidDataset(opts.Dataset) {
		return nil, fmt.Errorf("BigQuery dataset %q: want letters, digits and underscores", opts.Dataset)
	}
	if opts.CallTimeout <= 0 {
		return nil, errors.New("BigQuery call timeout must be positive")
	}
	w := &Warehouse{
		client: client, project: client.Project(), dataset: opts.Dataset, location: opts.Location,
		callTimeout: opts.CallTimeout, keepTables: opts.KeepTables, transforms: make(map[string]*transform),
	}
	for _, name := range reg.Names() {
		lt, err := reg.Latest(name)
		if err != nil {
			return nil, err
		}
		p := name + "/transform.sql"
		b, err := fs.ReadFile(transforms, p)
		if err != nil {
			return nil, fmt.Errorf("transform of %s: %w", name, err)
		}
		if n := strings.Count(string(b), SourceTablePlaceholder); n != 1 {
			return nil, fmt.Errorf("transform %s: contains %s %d times, want exactly once", p, SourceTablePlaceholder, n)
		}
		tr := &transform{lt: lt, sql: string(b), versions: make(map[int]*version)}
		vs, err := reg.Versions(name)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			s, err := bqschema.Schema(v)
			if err != nil {
				return nil, err
			}
			list, err := bqschema.SelectList(v, lt)
			if err != nil {
				return nil, err
			}
			tr.versions[v.Version] = &version{lt: v, schema: s, selectList: list}
		}
		w.transforms[name] = tr
	}
	return w, nil
}

// Result is a finished transform query of one chunk. Its rows can be read
// any number of times; they live in BigQuery's temporary result table.
type Result struct {
	job  *bigquery.Job
	cols []schema.Column
}

// Transform runs the log type's transform over the chunk's parquet
// objects, given by schema version, and waits for it to finish. It creates
// one external table per version, with that version's schema, over that
// version's objects only; the transform reads them through one source:
// the table itself when the chunk holds only the latest version, else
// SELECT <latest columns, CAST(NULL AS …) for those a version lacks> FROM
// each table, UNION ALL. name makes the tables' names
// (masora_<log type>_<name>_v<version>_<random>); unless KeepTables is set,
// the tables are deleted before Transform returns, since the result no
// longer needs them. An error in which BigQuery names some of the objects
// is a *fault.BadObjectsError of those; a misconfiguration (dataset or
// location not found, permission denied, table definition or SQL rejected)
// wraps fault.ErrMisconfigured and says what to check; see gcpfault.
func (w *Warehouse) Transform(ctx context.Context, logType, name string, sources []Source) (_ *Result, err error) {
	tr, ok := w.transforms[logType]
	if !ok {
		return nil, fmt.Errorf("%w: %w %q", fault.ErrInvalid, schema.ErrUnknownLogType, logType)
	}
	if len(sources) == 0 {
		return nil, errors.New("transform of no objects")
	}
	var (
		uris    []string
		from    []string // SELECT … FROM each version's table
		tables  []*bigquery.Table
		tableID string
	)
	seen := make(map[int]bool)
	for _, src := range sources {
		_, ok := tr.versions[src.Version]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s has no version %d", logType, src.Version)
		case seen[src.Version]:
			return nil, fmt.Errorf("%s version %d given twice", logType, src.Version)
		case len(src.URIs) == 0:
			return nil, fmt.Errorf("%s version %d: no objects", logType, src.Version)
		}
		seen[src.Version] = true
		uris = append(uris, src.URIs...)
	}
	defer func() {
		if w.keepTables {
			return
		}
		// Own short context: the tables must go even if ctx is done.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.callTimeout)
		defer cancel()
		for _, table := range tables {
			if derr := table.Delete(dctx); derr != nil && !gcpfault.NotFound(derr) {
				err = errors.Join(err, fmt.Errorf("delete external table %s (it expires in 24h anyway): %w", table.TableID, derr))
			}
		}
	}()
	for _, src := range sources {
		v := tr.versions[src.Version]
		tableID, err = tableName(logType, name+"_v"+strconv.Itoa(src.Version))
		if err != nil {
			return nil, err
		}
		table := w.client.Dataset(w.dataset).Table(tableID)
		meta := &bigquery.TableMetadata{
			Description: fmt.Sprintf("Masora external table over %d parquet objects of %s; deleted after its query.", len(src.URIs), v.lt),
			// A crash before the delete leaves the table behind; let it expire.
			ExpirationTime: time.Now().Add(24 * time.Hour),
			ExternalDataConfig: &bigquery.ExternalDataConfig{
				SourceFormat: bigquery.Parquet,
				SourceURIs:   src.URIs,
				Schema:       v.schema,
			},
		}
		if err := w.call(ctx, func(ctx context.Context) error { return table.Create(ctx, meta) }); err != nil {
			return nil, gcpfault.ClassifyObjects(fmt.Sprintf("create external table %s.%s.%s over %d objects of %s (%s)", w.project, w.dataset, tableID, len(src.URIs), v.lt, describeURIs(src.URIs)), err, src.URIs, w.checks(logType))
		}
		tables = append(tables, table)
		from = append(from, "SELECT "+v.selectList+" FROM "+w.quotedTable(tableID))
	}
	source := w.quotedTable(tableID)
	if len(sources) > 1 || sources[0].Version != tr.lt.Version {
		source = "(" + strings.Join(from, " UNION ALL ") + ")"
	}

	q := w.client.Query(strings.Replace(tr.sql, SourceTablePlaceholder, source, 1))
	q.Location = w.location
	var job *bigquery.Job
	err = w.call(ctx, func(ctx context.Context) error {
		j, err := q.Run(ctx)
		if err != nil {
			return err
		}
		st, err := j.Wait(ctx)
		if err != nil {
			return err
		}
		if err := st.Err(); err != nil {
			return err
		}
		job = j
		return nil
	})
	if err != nil {
		return nil, gcpfault.ClassifyObjects(fmt.Sprintf("run %s transform over %d objects (%s)", logType, len(uris), describeURIs(uris)), err, uris, w.checks(logType))
	}
	return &Result{job: job, cols: tr.lt.Columns()}, nil
}

// checks say what to look at when BigQuery rejects a call of logType's
// chunk for a reason that is not the objects'.
func (w *Warehouse) checks(logType string) gcpfault.Checks {
	loc := "BigQuery's default"
	if w.location != "" {
		loc = fmt.Sprintf("%q", w.location)
	}
	where := fmt.Sprintf("that dataset %q (BIGQUERY_DATASET) exists in project %q (BIGQUERY_PROJECT) and that its location is BIGQUERY_LOCATION (%s); infra/gcp creates it", w.dataset, w.project, loc)
	return gcpfault.Checks{
		NotFound:     where,
		Denied:       fmt.Sprintf("that Masora's service account has roles/bigquery.dataEditor on dataset %q, roles/bigquery.jobUser on project %q and read access (roles/storage.objectViewer) to the bucket; infra/gcp grants them", w.dataset, w.project),
		Invalid:      fmt.Sprintf("the external table definition (parquet, the explicit schema of %s's definition) and %s", logType, where),
		InvalidQuery: fmt.Sprintf("schemas/logtypes/%s/transform.sql against the definition's columns", logType),
	}
}

// call runs f with the per-call deadline.
func (w *Warehouse) call(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, w.callTimeout)
	defer cancel()
	return f(ctx)
}

// quotedTable returns the backquoted identifier project.dataset.table. Its
// parts are validated, so none can contain a backquote.
func (w *Warehouse) quotedTable(table string) string {
	return "`" + w.project + "." + w.dataset + "." + table + "`"
}

func tableName(logType, name string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random table name: %w", err)
	}
	id := "masora_" + logType + "_" + name + "_" + hex.EncodeToString(b[:])
	if !identPattern.MatchString(id) || len(id) > 1024 {
		return "", fmt.Errorf("external table name %q: want letters, digits and underscores", id)
	}
	return id, nil
}

func describeURIs(uris []string) string {
	switch len(uris) {
	case 0:
		return "none"
	case 1:
		return uris[0]
	}
	return uris[0] + " … " + uris[len(uris)-1]
}

// Read starts reading the result from its first row.
func (r *Result) Read(ctx context.Context) (*Rows, error) {
	it, err := r.job.Read(ctx)
	if err != nil {
		return nil, gcpfault.Classify("read transform result", err)
	}
	if err := checkColumns(it.Schema, r.cols); err != nil {
		return nil, err
	}
	return &Rows{it: it}, nil
}

// checkColumns checks that the result has the columns of the definition,
// in order: the transform's contract.
func checkColumns(got bigquery.Schema, want []schema.Column) error {
	names := make([]string, len(got))
	for i, f := range got {
		names[i] = f.Name
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = got[i].Name == want[i].Name
	}
	if !ok {
		wantNames := make([]string, len(want))
		for i, c := range want {
			wantNames[i] = c.Name
		}
		return fmt.Errorf("transform result has columns %v, want %v: fix the transform SQL", names, wantNames)
	}
	return nil
}

// Rows streams a result, one page in memory at a time.
type Rows struct {
	it *bigquery.RowIterator
}

// Next loads the next row into *dst; it returns io.EOF after the last.
func (r *Rows) Next(dst *[]bigquery.Value) error {
	err := r.it.Next(dst)
	if errors.Is(err, iterator.Done) {
		return io.EOF
	}
	if err != nil {
		return gcpfault.Classify("read transform result", err)
	}
	return nil
}

// StorageRead reports whether the rows come through the BigQuery Storage
// Read API. The client falls back to jobs.getQueryResults pages, silently,
// when it cannot start a read session (API disabled, permission
// bigquery.readsessions.create missing).
func (r *Rows) StorageRead() bool { return r.it.IsAccelerated() }

// Ready checks that the dataset can be read.
func (w *Warehouse) Ready(ctx context.Context) error {
	err := w.call(ctx, func(ctx context.Context) error {
		_, err := w.client.Dataset(w.dataset).Metadata(ctx)
		return err
	})
	if err != nil {
		return gcpfault.Classify("read BigQuery dataset "+w.dataset, err)
	}
	return nil
}
