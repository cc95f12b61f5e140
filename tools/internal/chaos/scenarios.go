package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/testkit/invariant"
	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
	"github.com/ore-masora/pipeline/tools/internal/chaos/faultproxy"
	"github.com/ore-masora/pipeline/tools/internal/chaos/svcproc"
	"github.com/ore-masora/pipeline/tools/internal/demo"
)

// Scenario is one fault the suite injects.
type Scenario struct {
	// Name is the subtest name.
	Name string
	// Queue sets the scenario's queue.
	Queue QueueConfig
	// Run publishes, injects the fault, lets the pipeline recover and
	// checks the invariants.
	Run func(p *Pipeline)
}

// Scenarios are the scenarios of the suite, in the order they run.
var Scenarios = []Scenario{
	{Name: "ore_killed_mid_batch", Run: oreKilledMidBatch},
	{Name: "redelivered_and_regrouped", Run: redeliveredAndRegrouped},
	{Name: "poison_message_dlq_redrive", Queue: QueueConfig{MaxReceives: 3}, Run: poisonMessageRedrive},
	{Name: "masora_killed_mid_load", Run: masoraKilledMidLoad},
	{Name: "concurrent_triggers", Run: concurrentTriggers},
	{Name: "gcs_stopped", Run: gcsStopped},
	{Name: "postgres_restarted_mid_run", Run: postgresRestartedMidRun},
	{Name: "bigquery_killed_mid_run", Run: bigqueryKilledMidRun},
}

// loadAndCheck runs Masora until it settles, then checks every invariant.
func loadAndCheck(p *Pipeline, opts invariant.Options) {
	p.T.Helper()
	m := p.StartMasora()
	a := p.Settle(m, p.within())
	p.T.Logf("masora settled: %s", a)
	if err := m.Stop(10 * time.Second); err != nil {
		p.T.Errorf("masora: %v", err)
	}
	opts.QuarantineTables = p.Cfg.QuarantineTables
	p.Check(opts)
}

// stopOre stops Ore with SIGTERM and fails the test if it does not exit
// cleanly.
func stopOre(p *Pipeline, ore *svcproc.Proc) {
	p.T.Helper()
	if err := ore.Stop(30 * time.Second); err != nil {
		p.T.Errorf("ore: %v", err)
	}
}

// oreKilledMidBatch: Ore is SIGKILLed Cfg.Faults times while it works,
// alternately just after one of its uploads (data or quarantine) went
// through and before it could delete the batch's messages, and at a random
// moment; each time it is started again. The batches' messages come back
// after their visibility timeout, in other batches.
func oreKilledMidBatch(p *Pipeline) {
	p.Publish("")
	var (
		mu       sync.Mutex
		ore      *svcproc.Proc
		uploads  int
		killAt   = 1 + p.Rand.IntN(4)
		kills    int
		killedCh = make(chan string, 1)
	)
	kill := func(why string) {
		// Called with mu held.
		if ore == nil || kills >= p.Cfg.Faults {
			return
		}
		if done, _ := ore.Exited(); done {
			return
		}
		ore.Kill()
		kills++
		killedCh <- why
	}
	p.GCS.Set(func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		name, ok := faultproxy.IsGCSUpload(r)
		if !ok {
			forward.ServeHTTP(w, r)
			return
		}
		rec := faultproxy.Record(r.WithContext(context.WithoutCancel(r.Context())), forward)
		mu.Lock()
		uploads++
		if uploads == killAt && kills%2 == 0 {
			kill(fmt.Sprintf("after upload %d (%s), before its deletes", uploads, name))
		}
		mu.Unlock()
		faultproxy.Send(w, rec)
	})
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		ore = p.StartOre()
		killAt = uploads + 1 + p.Rand.IntN(4)
		if kills%2 == 1 {
			// A kill at a random moment: receiving, gathering, writing.
			delay := time.Duration(500+p.Rand.IntN(2500)) * time.Millisecond
			current := ore
			time.AfterFunc(delay, func() {
				mu.Lock()
				defer mu.Unlock()
				if ore == current {
					kill(fmt.Sprintf("%s after it started", delay))
				}
			})
		}
	}
	start()
	killed := 0
	for killed < p.Cfg.Faults {
		select {
		case why := <-killedCh:
			p.T.Logf("ore SIGKILLed %s", why)
			killed++
			start()
			continue
		case <-time.After(time.Second):
		}
		if visible, hidden, err := invariant.QueueDepth(p.Ctx, p.SQS, p.QueueURL); err == nil && visible+hidden == 0 {
			break
		}
	}
	if killed == 0 {
		p.T.Errorf("no kill happened: the queue drained before the first fault (publish more events)")
	}
	mu.Lock()
	kills = max(kills, p.Cfg.Faults) // no more kills from here on
	select {
	case why := <-killedCh: // killed after the loop looked
		p.T.Logf("ore SIGKILLed %s", why)
	default:
	}
	if done, _ := ore.Exited(); done {
		ore = p.StartOre()
	}
	current := ore
	mu.Unlock()
	p.Drained(p.within())
	stopOre(p, current)
	loadAndCheck(p, invariant.Options{})
}

// redeliveredAndRegrouped: the answers to Cfg.Faults data uploads are held
// back until the batch's visibility timeout has passed. The objects are
// written, but Ore's handler deadline passes first: it reports the batch
// failed, its messages are delivered again and regrouped into other
// batches, so other files repeat some of the rows. Masora must load each
// event once.
func redeliveredAndRegrouped(p *Pipeline) {
	p.Publish("")
	var held atomic.Int64
	p.GCS.Set(func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		name, ok := faultproxy.IsGCSUpload(r)
		if !ok || strings.Contains(name, layout.QuarantineDir) || held.Load() >= int64(p.Cfg.Faults) {
			forward.ServeHTTP(w, r)
			return
		}
		held.Add(1)
		rec := faultproxy.Record(r.WithContext(context.WithoutCancel(r.Context())), forward)
		select {
		case <-time.After(Visibility + time.Second):
		case <-p.Ctx.Done():
		}
		faultproxy.Send(w, rec)
	})
	ore := p.StartOre()
	p.Drained(p.within())
	stopOre(p, ore)
	p.T.Logf("held back the answers to %d uploads past the visibility timeout", held.Load())
	if held.Load() == 0 {
		p.T.Errorf("no upload was held back")
	}
	loadAndCheck(p, invariant.Options{})
}

// poisonMessageRedrive: every upload of seller_action files fails (GCS
// answers 503 for that folder), so the one seller_action event
// fails every time it is handled and goes to the DLQ after maxReceiveCount.
// The other events load. Once the cause is gone, `ore redrive` sends it
// back and it loads once.
func poisonMessageRedrive(p *Pipeline) {
	p.Publish("user_action")
	withoutPoison := p.Published
	withoutPoison.Events = map[string][]string{"user_action": withoutPoison.Events["user_action"]}
	poison := poisonEvent(p)
	if _, err := SendRaw(p.Ctx, p.SQS, p.QueueURL, poison.LogType, poison.Body); err != nil {
		p.T.Fatal(err)
	}
	p.Published.AddEvent(poison.LogType, poison.EventID)
	refused := layout.LogTypePrefix(p.Prefix, poison.LogType)
	var failures atomic.Int64
	p.GCS.Set(func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if name, ok := faultproxy.IsGCSUpload(r); ok && strings.HasPrefix(name, refused) {
			failures.Add(1)
			http.Error(w, `{"error":{"code":503,"message":"refused by the chaos suite"}}`, http.StatusServiceUnavailable)
			return
		}
		forward.ServeHTTP(w, r)
	})
	ore := p.StartOre()
	if err := waitFor(p.Ctx, p.within(), 500*time.Millisecond, func() (bool, string, error) {
		visible, hidden, err := invariant.QueueDepth(p.Ctx, p.SQS, p.DLQURL)
		return visible+hidden == 1, fmt.Sprintf("%d in the DLQ", visible+hidden), err
	}, 1); err != nil {
		p.T.Fatalf("the poison message did not reach the DLQ: %v", err)
	}
	p.Drained(p.within())
	p.T.Logf("the poison message reached the DLQ after %d refused uploads", failures.Load())

	// Before the redrive: everything else is loaded, the poison waits in the DLQ.
	m := p.StartMasora()
	p.Settle(m, p.within())
	rep, err := p.check(withoutPoison, invariant.Options{DLQMessages: 1, QuarantineTables: p.Cfg.QuarantineTables})
	if err != nil {
		p.T.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		p.T.Errorf("before the redrive: %v", err)
	}

	p.GCS.Set(nil)
	var out strings.Builder
	if err := svcproc.Run(p.Ctx, p.Stack.Bins.Ore, []string{"redrive"}, p.Env, io.MultiWriter(p.Logs, &out)); err != nil {
		p.T.Fatal(err)
	}
	p.T.Logf("ore redrive: %s", lastLine(out.String()))
	p.Drained(p.within())
	stopOre(p, ore)
	p.Settle(m, p.within())
	if err := m.Stop(10 * time.Second); err != nil {
		p.T.Errorf("masora: %v", err)
	}
	p.Check(invariant.Options{QuarantineTables: p.Cfg.QuarantineTables})
}

// masoraKilledMidLoad: Masora is SIGKILLed Cfg.Faults times mid-load,
// alternately between a chunk's COPY and its commit (the chaos suite holds
// a lock on the hourly summary the chunk must write after its COPY, and
// kills Masora once the chunk waits for it) and while its BigQuery query
// is in flight. Each time a new Masora is started and the run repeated.
func masoraKilledMidLoad(p *Pipeline) {
	p.Publish("")
	ore := p.StartOre()
	p.Drained(p.within())
	stopOre(p, ore)

	lt, err := p.Reg.Latest("user_action")
	if err != nil {
		p.T.Fatal(err)
	}
	for i := range p.Cfg.Faults {
		m := p.StartMasora()
		if i%2 == 0 {
			killBetweenCopyAndCommit(p, m, lt.Summary.Table)
		} else {
			killDuringQuery(p, m)
		}
	}
	var abandoned int
	conn, err := pgx.Connect(p.Ctx, p.DatabaseURL)
	if err != nil {
		p.T.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(p.Ctx))
	loadAndCheck(p, invariant.Options{})
	if err := conn.QueryRow(p.Ctx, `SELECT count(*) FROM masora_runs WHERE status = 'abandoned'`).Scan(&abandoned); err != nil {
		p.T.Fatal(err)
	}
	p.T.Logf("%d runs were marked abandoned after %d kills", abandoned, p.Cfg.Faults)
}

// killBetweenCopyAndCommit locks summary against writes, triggers a run
// and kills Masora once one of its transactions waits for that lock: its
// chunk has copied rows and not committed.
func killBetweenCopyAndCommit(p *Pipeline, m *svcproc.Masora, summary string) {
	p.T.Helper()
	locker, err := pgx.Connect(p.Ctx, p.DatabaseURL)
	if err != nil {
		p.T.Fatal(err)
	}
	defer locker.Close(context.WithoutCancel(p.Ctx))
	// Watch from another connection: pg_stat_activity is read once per
	// transaction, so the locking transaction would never see a change.
	watcher, err := pgx.Connect(p.Ctx, p.DatabaseURL)
	if err != nil {
		p.T.Fatal(err)
	}
	defer watcher.Close(context.WithoutCancel(p.Ctx))
	tx, err := locker.Begin(p.Ctx)
	if err != nil {
		p.T.Fatal(err)
	}
	var lockPID int
	if err := tx.QueryRow(p.Ctx, "SELECT pg_backend_pid()").Scan(&lockPID); err != nil {
		p.T.Fatal(err)
	}
	if _, err := tx.Exec(p.Ctx, "LOCK TABLE "+pgx.Identifier{summary}.Sanitize()+" IN EXCLUSIVE MODE"); err != nil {
		p.T.Fatal(err)
	}
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		a, err := m.Run(p.Ctx, "")
		p.T.Logf("run answered %v %v", a, err)
	}()
	err = waitFor(p.Ctx, p.within(), 100*time.Millisecond, func() (bool, string, error) {
		var blocked int
		err := watcher.QueryRow(p.Ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, lockPID).Scan(&blocked)
		return blocked > 0, "no chunk waits for the summary lock", err
	}, 1)
	if err != nil {
		tx.Rollback(p.Ctx)
		m.Dump()
		p.T.Fatalf("no chunk reached its summary update: %v", err)
	}
	m.Kill()
	p.T.Log("masora SIGKILLed between a chunk's COPY and its commit")
	if err := tx.Rollback(p.Ctx); err != nil {
		p.T.Fatal(err)
	}
	<-answered
}

// killDuringQuery kills Masora when it sends a chunk's query to BigQuery,
// and answers the query 503.
func killDuringQuery(p *Pipeline, m *svcproc.Masora) {
	p.T.Helper()
	var once sync.Once
	killed := make(chan struct{})
	p.BQ.Set(func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if isQuery(r) {
			once.Do(func() {
				close(killed) // before the kill: the run's caller sees EOF at once
				m.Kill()
			})
			http.Error(w, "killed by the chaos suite", http.StatusServiceUnavailable)
			return
		}
		forward.ServeHTTP(w, r)
	})
	defer p.BQ.Set(nil)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		a, err := m.Run(p.Ctx, "")
		p.T.Logf("run answered %v %v", a, err)
	}()
	select {
	case <-answered:
	case <-time.After(p.within()):
		p.T.Fatal("no answer within " + p.within().String())
	}
	select {
	case <-killed:
		p.T.Log("masora SIGKILLed while its BigQuery query was in flight")
	default:
		p.T.Fatal("the run ended without sending a query")
	}
}

// concurrentTriggers: two Masora instances over the same database; in each
// of Cfg.Faults rounds more events are published and, at once, both get
// /run and /backfill over the same hours (one instance fails fast on the
// lock, the other waits for it). Every answer must be a success or a 409,
// and no run may be marked abandoned.
func concurrentTriggers(p *Pipeline) {
	ore := p.StartOre()
	a := p.StartMasora()
	b := p.StartMasora("MASORA_LOCK_WAIT", "30s")
	for round := range p.Cfg.Faults {
		p.Publish("")
		p.Drained(p.within())
		now := time.Now()
		calls := []struct {
			name string
			call func() (svcproc.Answer, error)
		}{
			{"A /run", func() (svcproc.Answer, error) { return a.Run(p.Ctx, "") }},
			{"B /run", func() (svcproc.Answer, error) { return b.Run(p.Ctx, "") }},
			{"A /backfill", func() (svcproc.Answer, error) { return a.Backfill(p.Ctx, now.Add(-2*time.Hour), now, "") }},
			{"B /backfill user_action", func() (svcproc.Answer, error) {
				return b.Backfill(p.Ctx, now.Add(-2*time.Hour), now, "user_action")
			}},
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, c := range calls {
			wg.Go(func() {
				<-start
				ans, err := c.call()
				name := fmt.Sprintf("round %d, %s", round, c.name)
				if err != nil {
					p.T.Errorf("%s: %v", name, err)
					return
				}
				if ans.Code != http.StatusConflict && !ans.Succeeded() {
					p.T.Errorf("%s: %s; want a success or a 409", name, ans)
					return
				}
				busyIsExplained(p, name, ans)
			})
		}
		close(start)
		wg.Wait()
	}
	stopOre(p, ore)
	for _, m := range []*svcproc.Masora{a, b} {
		if err := m.Stop(10 * time.Second); err != nil {
			p.T.Errorf("masora: %v", err)
		}
	}
	loadAndCheck(p, invariant.Options{})
	noneAbandoned(p)
}

// busyIsExplained logs an answer and fails the test if a 409 (busy)
// reports objects loaded by a run that does not say it failed and why: a
// run that lost its lock stops cleanly and records itself failed, keeping
// what it committed (issue 11: "A answered 409 after committing rows, and
// nothing was logged").
func busyIsExplained(p *Pipeline, name string, a svcproc.Answer) {
	p.T.Helper()
	p.T.Logf("%s: %s", name, a)
	if a.Code != http.StatusConflict {
		return
	}
	for _, r := range a.Runs {
		if (r.ObjectsLoaded > 0 || r.Rows > 0) && (r.Status != "failed" || r.Error == "") {
			p.T.Errorf("%s answered 409 (busy) after run %d loaded %d objects, %d rows of %s, and the run says %q (%q): a run stopped midway must record itself failed, with why",
				name, r.RunID, r.ObjectsLoaded, r.Rows, r.LogType, r.Status, r.Error)
		}
	}
}

// noneAbandoned fails the test if a run was marked abandoned although no
// Masora process died: a run is only abandoned when its owner is really
// gone (issue 11: "B's start marked A's live run abandoned").
func noneAbandoned(p *Pipeline) {
	p.T.Helper()
	conn, err := pgx.Connect(p.Ctx, p.DatabaseURL)
	if err != nil {
		p.T.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(p.Ctx))
	rows, err := conn.Query(p.Ctx, `SELECT run_id FROM masora_runs WHERE status = 'abandoned' ORDER BY 1`)
	if err != nil {
		p.T.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		p.T.Fatal(err)
	}
	if len(ids) > 0 {
		p.T.Errorf("runs %v were marked abandoned although every Masora process stayed alive", ids)
	}
}

// gcsStopped: the GCS emulator is stopped Cfg.Faults times while Ore
// uploads (just after one of its uploads went through), for longer than
// one upload's timeout (ORE_UPLOAD_TIMEOUT), and started again in place
// with its objects. The batches whose uploads failed are delivered again.
func gcsStopped(p *Pipeline) {
	p.Publish("")
	upload := make(chan struct{}, 1)
	var uploads atomic.Int64
	p.GCS.Set(func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
		if _, ok := faultproxy.IsGCSUpload(r); ok {
			uploads.Add(1)
			defer func() {
				select {
				case upload <- struct{}{}:
				default:
				}
			}()
		}
		forward.ServeHTTP(w, r)
	})
	ore := p.StartOre()
	down := uploadTimeout + Visibility
	for i := range p.Cfg.Faults {
		select {
		case <-upload:
		case <-time.After(30 * time.Second):
			p.T.Logf("no upload within 30s; GCS stopped %d times", i)
		}
		if err := p.Stack.Ctl.Stop(p.Ctx, stackctl.GCS); err != nil {
			p.T.Fatal(err)
		}
		p.T.Logf("GCS stopped after %d uploads, for %s", uploads.Load(), down)
		time.Sleep(down)
		if err := p.Stack.Ctl.Start(p.Ctx, stackctl.GCS); err != nil {
			p.T.Fatal(err)
		}
		select {
		case <-upload: // an upload before the stop, not yet taken
		default:
		}
	}
	p.Drained(p.within())
	stopOre(p, ore)
	loadAndCheck(p, invariant.Options{})
}

// postgresRestartedMidRun: Postgres is restarted (stopped, started in
// place) Cfg.Faults times while a Masora instance A runs, just after one
// of its chunks committed; once it is back, a second instance B is
// triggered too, as the next scheduled call would. A's run may fail or go
// on; B may take the lock A's dead connection held. Then the runs are
// repeated until they succeed.
func postgresRestartedMidRun(p *Pipeline) {
	p.Publish("")
	ore := p.StartOre()
	p.Drained(p.within())
	stopOre(p, ore)
	a := p.StartMasora()
	b := p.StartMasora()
	for i := range p.Cfg.Faults {
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			ans, err := a.Run(p.Ctx, "")
			if err != nil {
				p.T.Errorf("restart %d, A /run: no answer: %v", i, err)
				return
			}
			busyIsExplained(p, fmt.Sprintf("restart %d, A /run", i), ans)
		}()
		if !waitChunk(p, answered) {
			p.T.Logf("restart %d: A's run ended before a chunk committed; restarting Postgres anyway", i)
		}
		if err := p.Stack.Ctl.Restart(p.Ctx, stackctl.Postgres); err != nil {
			p.T.Fatal(err)
		}
		p.T.Logf("restart %d: Postgres restarted during A's run", i)
		ans, err := b.Run(p.Ctx, "")
		if err != nil {
			p.T.Errorf("restart %d, B /run: no answer: %v", i, err)
		} else {
			busyIsExplained(p, fmt.Sprintf("restart %d, B /run", i), ans)
		}
		<-answered
		p.Publish("")
		ore := p.StartOre()
		p.Drained(p.within())
		stopOre(p, ore)
	}
	for _, m := range []*svcproc.Masora{a, b} {
		if err := m.Stop(10 * time.Second); err != nil {
			p.T.Errorf("masora: %v", err)
		}
	}
	loadAndCheck(p, invariant.Options{})
	noneAbandoned(p)
}

// waitChunk waits until a run has committed a chunk (masora_runs counts
// it), or until answered closes; it reports whether a chunk committed.
func waitChunk(p *Pipeline, answered <-chan struct{}) bool {
	p.T.Helper()
	conn, err := pgx.Connect(p.Ctx, p.DatabaseURL)
	if err != nil {
		p.T.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(p.Ctx))
	for {
		var n int
		if err := conn.QueryRow(p.Ctx, `SELECT count(*) FROM masora_runs WHERE status = 'running' AND chunks_loaded > 0`).Scan(&n); err != nil {
			p.T.Fatal(err)
		}
		if n > 0 {
			return true
		}
		select {
		case <-answered:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// bigqueryKilledMidRun: the BigQuery emulator is SIGKILLed Cfg.Faults
// times when Masora sends a chunk's query, and started again in place a
// moment later. The run fails or its client's retries carry it over; the
// runs are repeated until they succeed.
func bigqueryKilledMidRun(p *Pipeline) {
	p.Publish("")
	ore := p.StartOre()
	p.Drained(p.within())
	stopOre(p, ore)
	m := p.StartMasora()
	for i := range p.Cfg.Faults {
		query := make(chan struct{})
		var once sync.Once
		p.BQ.Set(func(w http.ResponseWriter, r *http.Request, forward http.Handler) {
			if isQuery(r) {
				once.Do(func() {
					if err := p.Stack.Ctl.Kill(p.Ctx, stackctl.BigQuery); err != nil {
						p.T.Errorf("kill BigQuery: %v", err)
					}
					close(query)
				})
			}
			forward.ServeHTTP(w, r)
		})
		answered := make(chan svcproc.Answer, 1)
		go func() {
			ans, err := m.Run(p.Ctx, "")
			if err != nil {
				p.T.Errorf("kill %d, /run: no answer: %v", i, err)
			}
			answered <- ans
		}()
		select {
		case <-query:
			p.T.Logf("kill %d: BigQuery SIGKILLed as a query was sent", i)
		case ans := <-answered:
			p.T.Logf("kill %d: the run ended without a query: %s", i, ans)
			p.BQ.Set(nil)
			continue
		}
		time.Sleep(time.Second)
		if err := p.Stack.Ctl.Start(p.Ctx, stackctl.BigQuery); err != nil {
			p.T.Fatal(err)
		}
		p.BQ.Set(nil)
		p.T.Logf("kill %d: BigQuery started again; the run answered %s", i, <-answered)
		p.Publish("")
		ore := p.StartOre()
		p.Drained(p.within())
		stopOre(p, ore)
	}
	if err := m.Stop(10 * time.Second); err != nil {
		p.T.Errorf("masora: %v", err)
	}
	loadAndCheck(p, invariant.Options{})
}

// isQuery reports whether r starts a BigQuery query job (jobs.query or
// jobs.insert).
func isQuery(r *http.Request) bool {
	return r.Method == http.MethodPost && (strings.HasSuffix(r.URL.Path, "/queries") || strings.HasSuffix(r.URL.Path, "/jobs"))
}

// poisonEvent returns a fresh valid seller_action event.
func poisonEvent(p *Pipeline) (m demo.Message) {
	p.T.Helper()
	mix, err := NewMix(p.Reg, MixOptions{Events: 60, BadRounds: 1, Seed: p.Rand.Uint64(), Now: time.Now()})
	if err != nil {
		p.T.Fatal(err)
	}
	for _, v := range mix.Valid {
		if v.LogType == "seller_action" {
			return v
		}
	}
	p.T.Fatal("the generated mix has no seller_action event")
	return m
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
