package source_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/source"
)

func TestList(t *testing.T) {
	s := masoratest.New(t, masoratest.NoDataset)
	b := source.New(s.Storage, s.Bucket, masoratest.Prefix)
	h := time.Date(2024, 5, 1, 22, 0, 0, 0, time.UTC)
	msg := func(at time.Time) []masoratest.Message {
		return []masoratest.Message{masoratest.UserAction{EventID: uuid.New(), OccurredAt: at, Action: "product_viewed", Channel: "web", UserID: "u"}.Message(at)}
	}
	before := s.WriteObject(t, "user_action", msg(h.Add(-time.Minute)))
	first := s.WriteObject(t, "user_action", msg(h))
	nextDay := s.WriteObject(t, "user_action", msg(h.Add(2*time.Hour+59*time.Minute)))
	after := s.WriteObject(t, "user_action", msg(h.Add(3*time.Hour)))
	stray := "logs/user_action/dt=2024-05-01/hour=23/notes.txt"
	s.Put(t, stray, []byte("hello"))
	// A parquet name without a version is not in the layout.
	unversioned := "logs/user_action/dt=2024-05-01/hour=23/00000000000000000000000000000000.parquet"
	s.Put(t, unversioned, []byte("no version"))
	s.Put(t, "logs/seller_action/dt=2024-05-01/hour=23/00000000000000000000000000000000.v1.parquet", []byte("other log type"))

	got, err := b.List(t.Context(), "user_action", h, h.Add(2*time.Hour+30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	names := func(objs []source.Object) []string {
		var out []string
		for _, o := range objs {
			out = append(out, o.Name)
			if o.Generation == 0 || o.Size == 0 {
				t.Errorf("object %s: generation %d, size %d; want both set", o.Name, o.Generation, o.Size)
			}
		}
		return out
	}
	if diff := cmp.Diff([]string{first, nextDay}, names(got.Objects)); diff != "" {
		t.Errorf("listed objects mismatch (-want +got):\n%s\n(outside the range: %s, %s)", diff, before, after)
	}
	if diff := cmp.Diff([]string{unversioned, stray}, got.Ignored); diff != "" {
		t.Errorf("ignored names mismatch (-want +got):\n%s", diff)
	}
	wantHours := []time.Time{h, h.Add(2 * time.Hour)}
	var gotHours []time.Time
	for _, o := range got.Objects {
		gotHours = append(gotHours, o.Hour)
	}
	if diff := cmp.Diff(wantHours, gotHours, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("hours mismatch (-want +got):\n%s", diff)
	}
	latest, err := s.Registry.Latest("user_action")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range got.Objects {
		if o.Version != latest.Version {
			t.Errorf("object %s: version %d, want %d (from its name)", o.Name, o.Version, latest.Version)
		}
	}
	if err := b.Ready(t.Context()); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

// emptyFile returns a parquet file with no rows of a hand-made definition:
// Inspect only reads footers.
func emptyFile(t *testing.T, lt *schema.LogType) []byte {
	t.Helper()
	ps, err := parquetrow.New(lt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := parquetrow.NewWriter(&buf, ps, parquetrow.WriterOptions{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInspect(t *testing.T) {
	s := masoratest.New(t, masoratest.NoDataset)
	b := source.New(s.Storage, s.Bucket, masoratest.Prefix)
	reg := s.Registry
	latest, err := reg.Latest("user_action")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := reg.Versions("user_action")
	if err != nil {
		t.Fatal(err)
	}
	var want []*parquetrow.Schema
	for _, v := range versions {
		ps, err := parquetrow.New(v)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ps)
	}
	// variant returns the latest definition with its fields changed by f.
	variant := func(f func([]schema.Field) []schema.Field) *schema.LogType {
		lt := *latest
		lt.Fields = f(append([]schema.Field(nil), latest.Fields...))
		return &lt
	}
	without := func(name string) func([]schema.Field) []schema.Field {
		return func(fs []schema.Field) []schema.Field {
			var out []schema.Field
			for _, f := range fs {
				if f.Name != name {
					out = append(out, f)
				}
			}
			return out
		}
	}
	change := func(name string, g func(*schema.Field)) func([]schema.Field) []schema.Field {
		return func(fs []schema.Field) []schema.Field {
			for i := range fs {
				if fs[i].Name == name {
					g(&fs[i])
				}
			}
			return fs
		}
	}
	seller, err := reg.Latest("seller_action")
	if err != nil {
		t.Fatal(err)
	}
	good := s.Parquet(t, "user_action", []masoratest.Message{masoratest.UserAction{
		EventID: uuid.New(), OccurredAt: time.Now(), Action: "product_viewed", Channel: "web", UserID: "u"}.Message(time.Now())})

	tests := []struct {
		name        string
		version     int // in the object's name; 0 for the latest
		content     []byte
		wantErr     error
		wantVersion int    // of a file that can be loaded
		wantReason  string // in the error of one that cannot
	}{
		{name: "as Ore writes it", content: good, wantVersion: latest.Version},
		{name: "older version without an optional column", version: versions[0].Version, content: emptyFile(t, versions[0]), wantVersion: versions[0].Version},
		{name: "footer names a newer version than the name", version: versions[0].Version, content: good, wantErr: fault.ErrBadObject,
			wantReason: fmt.Sprintf("its name says user_action version %d, but its footer says version \"%d\"", versions[0].Version, latest.Version)},
		{name: "footer names an older version than the name", content: emptyFile(t, versions[0]), wantErr: fault.ErrBadObject,
			wantReason: fmt.Sprintf("its name says user_action version %d, but its footer says version \"%d\"", latest.Version, versions[0].Version)},
		{name: "name carries a version this build does not know", version: latest.Version + 1, content: good, wantErr: fault.ErrBadObject,
			wantReason: fmt.Sprintf("its name says user_action version %d, which this build does not know", latest.Version+1)},
		{name: "latest version without its optional column", content: emptyFile(t, variant(without("app_version"))), wantErr: fault.ErrBadObject},
		{name: "a version this build does not know", version: latest.Version + 1, content: emptyFile(t, func() *schema.LogType {
			lt := variant(func(fs []schema.Field) []schema.Field { return fs })
			lt.Version = latest.Version + 1
			return lt
		}()), wantErr: fault.ErrBadObject},
		{name: "not parquet", content: []byte("this is not a parquet file at all"), wantErr: fault.ErrBadObject},
		{name: "too small", content: []byte("PAR1"), wantErr: fault.ErrBadObject},
		{name: "footer length out of range", content: []byte("PAR1 but not really a parquet file PAR1"), wantErr: fault.ErrBadObject},
		{name: "truncated", content: good[:len(good)/2], wantErr: fault.ErrBadObject},
		{name: "other log type", content: emptyFile(t, seller), wantErr: fault.ErrBadObject},
		{name: "required column missing", content: emptyFile(t, variant(without("channel"))), wantErr: fault.ErrBadObject},
		{name: "unknown column", content: emptyFile(t, variant(func(fs []schema.Field) []schema.Field {
			return append(fs, schema.Field{Name: "coupon", Type: schema.TypeString})
		})), wantErr: fault.ErrBadObject},
		{name: "column of another type", content: emptyFile(t, variant(change("quantity", func(f *schema.Field) { f.Type = schema.TypeString }))), wantErr: fault.ErrBadObject},
		{name: "required column optional", content: emptyFile(t, variant(change("user_id", func(f *schema.Field) { f.Required = false }))), wantErr: fault.ErrBadObject},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.version
			if v == 0 {
				v = latest.Version
			}
			name := fmt.Sprintf("logs/user_action/dt=2024-05-01/hour=10/%02x000000000000000000000000000000.v%d.parquet", i, v)
			s.Put(t, name, tt.content)
			l, err := b.List(t.Context(), "user_action", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			var obj source.Object
			for _, o := range l.Objects {
				if o.Name == name {
					obj = o
				}
			}
			if obj.Name == "" {
				t.Fatalf("%s not listed", name)
			}
			if obj.Version != v {
				t.Fatalf("listed %s with version %d, want %d", name, obj.Version, v)
			}
			got, err := b.Inspect(t.Context(), obj, want)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Inspect: %v, want success", err)
			}
			if tt.wantErr == nil && got.LogType().Version != tt.wantVersion {
				t.Errorf("Inspect: version %d, want %d", got.LogType().Version, tt.wantVersion)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Inspect: %v, want an error wrapping %v", err, tt.wantErr)
			}
			if tt.wantReason != "" && !strings.Contains(err.Error(), tt.wantReason) {
				t.Errorf("Inspect: %v, want it to say %q", err, tt.wantReason)
			}
			t.Logf("Inspect: %v", err)
		})
	}

	t.Run("vanished", func(t *testing.T) {
		name := "logs/user_action/dt=2024-05-01/hour=11/f0000000000000000000000000000000.v" + strconv.Itoa(latest.Version) + ".parquet"
		s.Put(t, name, good)
		l, err := b.List(t.Context(), "user_action", time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC))
		if err != nil || len(l.Objects) != 1 {
			t.Fatalf("List: %v, %d objects; want 1", err, len(l.Objects))
		}
		s.Delete(t, name)
		if _, err := b.Inspect(t.Context(), l.Objects[0], want); !errors.Is(err, fault.ErrBadObject) {
			t.Fatalf("Inspect of a deleted object: %v, want an error wrapping %v", err, fault.ErrBadObject)
		}
	})
}

// TestQuarantine lists quarantine objects by hour folder and reads their
// records in order; an object that vanished after listing is a bad object
// named by URI.
func TestQuarantine(t *testing.T) {
	s := masoratest.New(t, masoratest.NoDataset)
	b := source.New(s.Storage, s.Bucket, masoratest.Prefix)
	h := time.Date(2024, 5, 1, 22, 0, 0, 0, time.UTC)
	rec := func(id string, at time.Time) quarantine.Record {
		r := quarantine.Record{MessageID: id, Reason: "why", ReceivedAt: at, WriterVersion: "test"}
		r.SetBody(`{"source":"web"}`)
		return r
	}
	first := s.WriteQuarantine(t, rec("a", h), rec("b", h))
	second := s.WriteQuarantine(t, rec("c", h.Add(time.Hour)))
	s.WriteQuarantine(t, rec("z", h.Add(3*time.Hour))) // outside the range
	stray := "logs/_quarantine/dt=2024-05-01/hour=22/notes.txt"
	s.Put(t, stray, []byte("hello"))

	got, err := b.List(t.Context(), layout.QuarantineDir, h, h.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range got.Objects {
		names = append(names, o.Name)
	}
	if diff := cmp.Diff([]string{first, second}, names); diff != "" {
		t.Errorf("listed quarantine objects (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{stray}, got.Ignored); diff != "" {
		t.Errorf("ignored names (-want +got):\n%s", diff)
	}
	if data, err := b.List(t.Context(), "user_action", h, h.Add(2*time.Hour)); err != nil || len(data.Objects)+len(data.Ignored) != 0 {
		t.Errorf("List(user_action) = %+v, %v; want nothing (quarantine objects are not a log type's)", data, err)
	}

	read := func(objs []source.Object) ([]string, error) {
		recs := b.Records(t.Context(), objs)
		defer recs.Close()
		var ids []string
		for {
			r, err := recs.Next()
			if errors.Is(err, io.EOF) {
				return ids, nil
			}
			if err != nil {
				return ids, err
			}
			ids = append(ids, r.MessageID)
		}
	}
	ids, err := read(got.Objects)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, ids); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}

	s.Delete(t, second)
	ids, err = read(got.Objects)
	var bad *fault.BadObjectsError
	if !errors.As(err, &bad) || !errors.Is(err, fault.ErrBadObject) || !strings.Contains(err.Error(), "vanished") {
		t.Fatalf("reading a vanished object: %v, want a *fault.BadObjectsError saying it vanished", err)
	}
	if diff := cmp.Diff([]string{b.URI(second)}, bad.URIs); diff != "" {
		t.Errorf("bad objects named (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "b"}, ids); diff != "" {
		t.Errorf("records before the vanished object (-want +got):\n%s", diff)
	}
}
