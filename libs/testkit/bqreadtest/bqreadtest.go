// Package bqreadtest is a BigQuery Storage Read API server for tests. The
// bigquery-emulator's own Storage Read API is broken, so tests run the query
// in the emulator and read its result through this server instead, with the
// same client calls as against real BigQuery:
//
//   - CreateReadSession for a table (the query job's destination table, which
//     the client finds with jobs.get) answers the table's Arrow schema, mapped
//     from the BigQuery schema as BigQuery maps it, and up to Options.Streams
//     read streams, each a contiguous share of the rows.
//   - ReadRows streams one stream's rows from the requested offset as Arrow
//     IPC record batches of at most Options.BatchRows rows.
//
// The rows come from the emulator over its REST API (tables.get and
// tabledata.list, through Options.Source), read once per table version and
// then kept in memory, as BigQuery keeps a result table in its storage.
package bqreadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Options configure a Server.
type Options struct {
	// Source reads the tables' metadata and rows: a client of the
	// bigquery-emulator's REST API, without the Storage Read client.
	Source *bigquery.Client
	// Streams is the most read streams a session gets (default 4). A
	// session gets fewer when the client asks for fewer (max_stream_count)
	// or the table has fewer rows, and none for an empty table.
	Streams int
	// BatchRows is the most rows in one ReadRows response (default 1024).
	BatchRows int
}

// Stats counts what a Server served.
type Stats struct {
	// Sessions is the number of read sessions created.
	Sessions int64
	// Streams is the number of read streams handed out.
	Streams int64
	// ReadRows is the number of ReadRows calls.
	ReadRows int64
	// Rows is the number of rows sent.
	Rows int64
	// TableLoads is the number of times a table's rows were read from
	// Source (once per table version).
	TableLoads int64
}

// Server serves the BigQuery Storage Read API (storagepb.BigQueryReadServer)
// on a local port, without TLS or authentication.
type Server struct {
	storagepb.UnimplementedBigQueryReadServer

	opts Options
	lis  net.Listener
	srv  *grpc.Server

	mu      sync.Mutex
	tables  map[string]*table  // by table resource name, the latest version read
	streams map[string]*stream // by stream name

	sessions, nstreams, readRows, rows, loads atomic.Int64
}

// table is one version of a table's contents.
type table struct {
	modified time.Time
	numRows  uint64
	schema   bigquery.Schema
	enc      *encoder
	rows     [][]bigquery.Value
}

// stream is a share of a table's rows: rows [from, to).
type stream struct {
	t        *table
	from, to int
}

// New starts a Server on a free port of 127.0.0.1, stopped when the test
// ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("bqreadtest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts a Server on a free port of 127.0.0.1; Stop stops it.
func Start(opts Options) (*Server, error) {
	if opts.Source == nil {
		return nil, errors.New("bqreadtest: Options.Source is required: a BigQuery client of the emulator")
	}
	if opts.Streams <= 0 {
		opts.Streams = 4
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = 1024
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the Storage Read API server: %w", err)
	}
	s := &Server{
		opts: opts, lis: lis, srv: grpc.NewServer(),
		tables: make(map[string]*table), streams: make(map[string]*stream),
	}
	storagepb.RegisterBigQueryReadServer(s.srv, s)
	go s.srv.Serve(lis)
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// ClientOptions are the options that point a client at the server
// (plaintext, unauthenticated): pass them to
// bigquery.Client.EnableStorageReadClient.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Addr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Client returns a client of the BigQuery emulator at endpoint, in project,
// that reads query results through the server. It is closed when the test
// ends.
func (s *Server) Client(t testing.TB, project, endpoint string) *bigquery.Client {
	t.Helper()
	c, err := bigquery.NewClient(t.Context(), project, option.WithEndpoint(endpoint), option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("bqreadtest: BigQuery client for %s: %v", endpoint, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.EnableStorageReadClient(t.Context(), s.ClientOptions()...); err != nil {
		t.Fatalf("bqreadtest: Storage Read API client: %v", err)
	}
	return c
}

// Stats returns what the server has served so far.
func (s *Server) Stats() Stats {
	return Stats{
		Sessions: s.sessions.Load(), Streams: s.nstreams.Load(), ReadRows: s.readRows.Load(),
		Rows: s.rows.Load(), TableLoads: s.loads.Load(),
	}
}

// Stop stops serving and closes open streams.
func (s *Server) Stop() { s.srv.Stop() }

// tablePattern matches the Storage API's table resource name.
var tablePattern = regexp.MustCompile(`^projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$`)

// CreateReadSession answers a session over the requested table.
func (s *Server) CreateReadSession(ctx context.Context, req *storagepb.CreateReadSessionRequest) (*storagepb.ReadSession, error) {
	rs := req.GetReadSession()
	m := tablePattern.FindStringSubmatch(rs.GetTable())
	if m == nil {
		return nil, status.Errorf(codes.InvalidArgument, "read_session.table %q: want projects/P/datasets/D/tables/T", rs.GetTable())
	}
	if req.GetParent() == "" {
		return nil, status.Error(codes.InvalidArgument, "parent is required: projects/P")
	}
	if rs.GetDataFormat() != storagepb.DataFormat_ARROW {
		return nil, status.Errorf(codes.Unimplemented, "data_format %v: bqreadtest serves ARROW only", rs.GetDataFormat())
	}
	if o := rs.GetReadOptions(); o != nil && (len(o.GetSelectedFields()) > 0 || o.GetRowRestriction() != "") {
		return nil, status.Error(codes.Unimplemented, "read_options (selected fields, row restriction): bqreadtest serves whole tables only")
	}
	t, err := s.table(ctx, m[1], m[2], m[3])
	if err != nil {
		return nil, err
	}
	n := s.opts.Streams
	if max := int(req.GetMaxStreamCount()); max > 0 && max < n {
		n = max
	}
	n = min(n, len(t.rows))

	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, status.Errorf(codes.Internal, "session id: %v", err)
	}
	name := fmt.Sprintf("projects/%s/locations/us/sessions/%s", m[1], hex.EncodeToString(id[:]))
	out := &storagepb.ReadSession{
		Name:       name,
		ExpireTime: timestamppb.New(time.Now().Add(6 * time.Hour)),
		DataFormat: storagepb.DataFormat_ARROW,
		Schema: &storagepb.ReadSession_ArrowSchema{ArrowSchema: &storagepb.ArrowSchema{
			SerializedSchema: t.enc.schemaBytes,
		}},
		Table:             rs.GetTable(),
		EstimatedRowCount: int64(len(t.rows)),
	}
	s.mu.Lock()
	for i := range n {
		st := &stream{t: t, from: i * len(t.rows) / n, to: (i + 1) * len(t.rows) / n}
		sn := fmt.Sprintf("%s/streams/%d", name, i)
		s.streams[sn] = st
		out.Streams = append(out.Streams, &storagepb.ReadStream{Name: sn})
	}
	s.mu.Unlock()
	s.sessions.Add(1)
	s.nstreams.Add(int64(n))
	return out, nil
}

// table returns the current version of a table's contents, reading it from
// Source unless the version is already in memory.
func (s *Server) table(ctx context.Context, project, dataset, id string) (*table, error) {
	ref := s.opts.Source.DatasetInProject(project, dataset).Table(id)
	md, err := ref.Metadata(ctx)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "table %s.%s.%s: %v", project, dataset, id, err)
	}
	key := project + "." + dataset + "." + id
	s.mu.Lock()
	t := s.tables[key]
	s.mu.Unlock()
	if t != nil && t.modified.Equal(md.LastModifiedTime) && t.numRows == md.NumRows {
		return t, nil
	}
	enc, err := newEncoder(md.Schema)
	if err != nil {
		return nil, status.Errorf(codes.Unimplemented, "table %s: %v", key, err)
	}
	t = &table{modified: md.LastModifiedTime, numRows: md.NumRows, schema: md.Schema, enc: enc}
	it := ref.Read(ctx)
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "read table %s: %v", key, err)
		}
		t.rows = append(t.rows, row)
	}
	s.loads.Add(1)
	s.mu.Lock()
	s.tables[key] = t
	s.mu.Unlock()
	return t, nil
}

// ReadRows sends a stream's rows from the requested offset.
func (s *Server) ReadRows(req *storagepb.ReadRowsRequest, srv storagepb.BigQueryRead_ReadRowsServer) error {
	s.readRows.Add(1)
	s.mu.Lock()
	st := s.streams[req.GetReadStream()]
	s.mu.Unlock()
	if st == nil {
		return status.Errorf(codes.NotFound, "read stream %q: no such stream", req.GetReadStream())
	}
	off := req.GetOffset()
	if off < 0 || off > int64(st.to-st.from) {
		return status.Errorf(codes.OutOfRange, "offset %d: stream %s has %d rows", off, req.GetReadStream(), st.to-st.from)
	}
	total := st.to - st.from
	for from := st.from + int(off); from < st.to; from += s.opts.BatchRows {
		to := min(from+s.opts.BatchRows, st.to)
		batch, err := st.t.enc.recordBatch(st.t.rows[from:to])
		if err != nil {
			return status.Errorf(codes.Internal, "encode rows %d to %d: %v", from, to, err)
		}
		n := int64(to - from)
		err = srv.Send(&storagepb.ReadRowsResponse{
			Rows: &storagepb.ReadRowsResponse_ArrowRecordBatch{ArrowRecordBatch: &storagepb.ArrowRecordBatch{
				SerializedRecordBatch: batch, RowCount: n,
			}},
			RowCount: n,
			Stats: &storagepb.StreamStats{Progress: &storagepb.StreamStats_Progress{
				AtResponseStart: float64(from-st.from) / float64(total),
				AtResponseEnd:   float64(to-st.from) / float64(total),
			}},
		})
		if err != nil {
			return err
		}
		s.rows.Add(n)
	}
	return nil
}

// SplitReadStream is not supported: it answers no split, which the protocol
// allows ("the original stream can not be split").
func (s *Server) SplitReadStream(ctx context.Context, req *storagepb.SplitReadStreamRequest) (*storagepb.SplitReadStreamResponse, error) {
	return &storagepb.SplitReadStreamResponse{}, nil
}
