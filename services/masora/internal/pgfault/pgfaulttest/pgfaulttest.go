// Package pgfaulttest puts a TCP proxy that fails on demand between a test
// and its Postgres, to play a Postgres restart or a network cut over real
// connections: every session through it ends at once, and new connections
// are refused until it is up again. Import it from tests only.
package pgfaulttest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Proxy forwards TCP connections from a port on 127.0.0.1 to Postgres.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]bool // both ends of every connection
	// refuse is how many connections are still to be refused; < 0: all
	// until Up.
	refuse  int
	refused int
	wg      sync.WaitGroup
}

// Start starts a proxy to target (host:port), stopped when the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgfaulttest: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]bool)}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// PoolConfig returns the pool configuration of dsn, connecting through the
// proxy instead of dsn's host.
func (p *Proxy) PoolConfig(t testing.TB, dsn string) *pgxpool.Config {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgfaulttest: %v", err)
	}
	host, port, err := net.SplitHostPort(p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(n)
	for _, fb := range cfg.ConnConfig.Fallbacks {
		fb.Host, fb.Port = host, uint16(n)
	}
	return cfg
}

// Cut closes every connection through the proxy, as a Postgres restart
// ends every session.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Down cuts every connection and refuses new ones (it accepts and closes
// them at once) until Up: Postgres is down.
func (p *Proxy) Down() { p.DownFor(-1) }

// DownFor cuts every connection and refuses the next n new ones, then
// accepts again: a short Postgres restart, whatever time it takes the
// clients to try n times. n < 0 refuses until Up.
func (p *Proxy) DownFor(n int) {
	p.mu.Lock()
	p.refuse = n
	p.mu.Unlock()
	p.Cut()
}

// Up accepts connections again.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = 0
}

// refusing counts a new connection as refused if the proxy is down.
func (p *Proxy) refusing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refuse == 0 {
		return false
	}
	p.refuse--
	p.refused++
	if p.refuse < -1 {
		p.refuse = -1
	}
	return true
}

// Refused returns how many connections were refused while down.
func (p *Proxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // the listener is closed
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// forward connects c to the target and copies both ways until either
// side ends or the proxy cuts them.
func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	if p.refusing() {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src) // ends with either side, or a cut
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}
