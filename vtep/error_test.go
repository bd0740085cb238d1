package vtep

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/weftnet/weft/metrics"
)

var errRefused = errors.New("refused")

// refusingConn sends all but the last refuse datagrams of every batch.
type refusingConn struct {
	discardConn
	refuse int
}

func (c *refusingConn) WriteBatch(bufs [][]byte, to []netip.AddrPort, off int) (int, error) {
	n := max(len(bufs)-c.refuse, 0)
	c.discardConn.WriteBatch(bufs[:n], to, off)
	if n < len(bufs) {
		return n, errRefused
	}
	return n, nil
}

// refusingTAP writes the first accept frames of every batch.
type refusingTAP struct {
	discardTAP
	accept int
}

func (d *refusingTAP) Write(bufs [][]byte, off int) (int, error) {
	n := min(len(bufs), d.accept)
	d.discardTAP.Write(bufs[:n], off)
	if n < len(bufs) {
		return n, errRefused
	}
	return n, nil
}

func TestSendErrorsCounted(t *testing.T) {
	x := newBare(t, nodeAddr(1), nodeAddr(2))
	conn := &refusingConn{refuse: 5}
	x.e.conn = conn
	b := x.txBatchOf(ether(bcast, macA, 1, 100))
	x.e.transmit(x.n, b, 10) // 20 copies, 5 refused
	if got := x.n.ctr.Drops(metrics.DropSendError); got != 5 {
		t.Errorf("send_error drops: got %d; want 5", got)
	}
	if got := x.n.ctr.TxPackets.Load(); got != 15 {
		t.Errorf("tx packets: got %d; want 15", got)
	}
	if got := conn.sent.Load(); got != 15 {
		t.Errorf("datagrams sent: got %d; want 15", got)
	}
}

func TestTapErrorsCounted(t *testing.T) {
	tests := []struct {
		name string
		run  func(x *bare)
	}{
		{"received frames", func(x *bare) {
			x.e.receive(rxBatchOf(vxlan(1, ether(macA, macB, 1, 100)), nodeAddr(1)), 10, time.Now())
		}},
		{"ARP replies", func(x *bare) {
			x.e.fdb.AddStaticIP(1, ipB, macB)
			x.e.fdb.AddStatic(1, macB, nodeAddr(2))
			x.e.transmit(x.n, x.txBatchOf(arpRequest(macA, ipA, ipB)), 10)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newBare(t)
			dev := &refusingTAP{accept: 4}
			x.n.dev = dev
			tt.run(x)
			if got := x.n.ctr.Drops(metrics.DropTapError); got != 6 {
				t.Errorf("tap_error drops: got %d; want 6", got)
			}
			if got := dev.written.Load(); got != 4 {
				t.Errorf("frames written: got %d; want 4", got)
			}
		})
	}
}
