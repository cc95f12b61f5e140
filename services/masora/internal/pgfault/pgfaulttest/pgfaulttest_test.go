package pgfaulttest_test

import (
	"bufio"
	"io"
	"net"
	"testing"

	"github.com/ore-masora/pipeline/services/masora/internal/pgfault/pgfaulttest"
)

// echo serves a TCP echo on 127.0.0.1 and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line through the proxy on c and reports whether it
// came back.
func roundTrip(c net.Conn) bool {
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

func dial(t *testing.T, p *pgfaulttest.Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProxy(t *testing.T) {
	p := pgfaulttest.Start(t, echo(t))
	open := dial(t, p)
	if !roundTrip(open) {
		t.Fatal("no echo through the proxy")
	}
	p.Cut()
	if roundTrip(open) {
		t.Error("a cut connection still echoes")
	}
	if !roundTrip(dial(t, p)) {
		t.Error("no echo on a new connection after a cut")
	}

	p.DownFor(2)
	for i := range 2 {
		if roundTrip(dial(t, p)) {
			t.Errorf("connection %d echoes while the proxy refuses 2", i+1)
		}
	}
	if !roundTrip(dial(t, p)) {
		t.Error("no echo after the 2 refused connections")
	}

	p.Down()
	if roundTrip(dial(t, p)) {
		t.Error("a connection echoes while the proxy is down")
	}
	p.Up()
	if !roundTrip(dial(t, p)) {
		t.Error("no echo after Up")
	}
	if got := p.Refused(); got != 3 {
		t.Errorf("Refused() = %d, want 3", got)
	}
}
