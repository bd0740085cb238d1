package gossiptest

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestSameNameSameAddress(t *testing.T) {
	var n Network
	a, err := n.NewTransport("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.NewTransport("a"); err == nil {
		t.Errorf("second running transport for a: got nil error; want one")
	}
	a.Shutdown()
	again, err := n.NewTransport("a")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Shutdown()
	if again.Addr() != a.Addr() {
		t.Errorf("restarted a at %v; want %v", again.Addr(), a.Addr())
	}
}

func TestPacketsAndStreams(t *testing.T) {
	var n Network
	a, _ := n.NewTransport("a")
	b, _ := n.NewTransport("b")
	defer a.Shutdown()

	if _, err := a.WriteToAddress([]byte("hi"), memberlist.Address{Addr: b.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-b.PacketCh():
		if string(p.Buf) != "hi" || p.From.String() != a.Addr().String() {
			t.Errorf("got %q from %v; want \"hi\" from %v", p.Buf, p.From, a.Addr())
		}
	case <-time.After(time.Second):
		t.Fatal("packet not delivered")
	}

	n.BlockPackets(a.Addr(), b.Addr(), true)
	a.WriteTo([]byte("lost"), b.Addr().String())
	select {
	case p := <-b.PacketCh():
		t.Errorf("blocked packet %q delivered", p.Buf)
	default:
	}
	if n.Dropped() != 1 {
		t.Errorf("Dropped = %d; want 1", n.Dropped())
	}

	go func() {
		c := <-b.StreamCh()
		c.Write([]byte("pong"))
		c.Close()
	}()
	c, err := a.DialTimeout(b.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := c.Read(buf); err != nil || string(buf) != "pong" {
		t.Errorf("read %q, %v; want pong", buf, err)
	}
	if c.RemoteAddr().String() != b.Addr().String() {
		t.Errorf("RemoteAddr = %v; want %v", c.RemoteAddr(), b.Addr())
	}
	c.Close()

	b.Shutdown()
	if _, err := a.DialTimeout(b.Addr().String(), time.Second); !errors.Is(err, errRefused) {
		t.Errorf("dial to stopped node: got %v; want connection refused", err)
	}
	if _, err := a.WriteTo([]byte("x"), b.Addr().String()); err != nil {
		t.Errorf("write to stopped node: got %v; want nil, as UDP", err)
	}
}

func TestShutdownClosesStreams(t *testing.T) {
	var n Network
	a, _ := n.NewTransport("a")
	b, _ := n.NewTransport("b")
	defer a.Shutdown()
	go func() { <-b.StreamCh() }()
	c, err := a.DialTimeout(b.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read after peer shutdown: got nil error; want closed pipe")
	}
}
