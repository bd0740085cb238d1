package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// aLongTimeAgo is a deadline in the past, to unblock a read at once.
var aLongTimeAgo = time.Unix(1, 0)

// errMismatch is an upstream's answer to another question over TCP.
var errMismatch = errors.New("answer does not match the question")

// forward asks the upstreams req over the network proto ("udp" or "tcp")
// in one of the slots of q, and returns their answer, or SERVFAIL.
func (r *Resolver) forward(ctx context.Context, req *dns.Msg, proto string, q *quota) *dns.Msg {
	ups := r.ups.get()
	if len(ups) == 0 {
		r.stats.failed.Add(1)
		return servfail(req)
	}
	s := q.take()
	if s == noSlot {
		r.stats.overloaded.Add(1)
		return servfail(req)
	}
	defer q.give(s)
	resp := r.tryUpstreams(ctx, req, ups, proto)
	if resp == nil {
		r.stats.failed.Add(1)
		return servfail(req)
	}
	r.stats.forwarded.Add(1)
	return resp
}

// tryUpstreams asks ups in turn within the Timeout budget, each attempt
// getting an even share of what is left, and returns the first usable
// answer, or nil.
func (r *Resolver) tryUpstreams(ctx context.Context, req *dns.Msg, ups []netip.AddrPort, proto string) *dns.Msg {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	q := req.Copy()
	for i, up := range ups {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return nil
		}
		actx, acancel := context.WithTimeout(ctx, left/time.Duration(len(ups)-i))
		q.Id = dns.Id() // a fresh ID per attempt: a late answer to the last one is not taken for this one
		resp, err := exchange(actx, q, up, proto)
		acancel()
		if err == nil && resp.Rcode != dns.RcodeServerFailure && resp.Rcode != dns.RcodeRefused {
			return resp
		}
		r.debugAttempt(up, proto, q, resp, err)
	}
	return nil
}

// debugAttempt logs, at Debug, an attempt whose answer was not used.
func (r *Resolver) debugAttempt(up netip.AddrPort, proto string, q, resp *dns.Msg, err error) {
	if !r.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if err == nil {
		err = fmt.Errorf("answered %s", dns.RcodeToString[resp.Rcode])
	}
	r.log.Debug("dns: upstream failed", "upstream", up, "proto", proto, "name", q.Question[0].Name, "err", err)
}

// exchange sends q to up over proto and returns its answer. It gives up
// at ctx's deadline, or at once when ctx is cancelled.
func exchange(ctx context.Context, q *dns.Msg, up netip.AddrPort, proto string) (*dns.Msg, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, proto, up.String())
	if err != nil {
		return nil, err
	}
	co := &dns.Conn{Conn: c, UDPSize: receiveSize(q)}
	defer co.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = co.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = co.SetDeadline(aLongTimeAgo) })
	defer stop()
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		resp, err := co.ReadMsg()
		switch {
		case err != nil:
			return nil, err
		case answers(resp, q):
			return resp, nil
		case proto == protoTCP:
			return nil, errMismatch
		}
		// Over UDP a stray datagram is skipped: the answer may follow.
	}
}

// receiveSize is the buffer an answer to q gets over UDP: the size its
// EDNS0 record offers, but at least 4096 bytes, so that an upstream that
// sends more than was offered is truncated by respond, not lost.
func receiveSize(q *dns.Msg) uint16 {
	if opt := q.IsEdns0(); opt != nil {
		return max(opt.UDPSize(), maxUDPSize)
	}
	return maxUDPSize
}

// answers reports whether resp is a response to q: same ID and, if it
// carries a question, the same one.
func answers(resp, q *dns.Msg) bool {
	if !resp.Response || resp.Id != q.Id || len(resp.Question) > 1 {
		return false
	}
	if len(resp.Question) == 0 {
		return true
	}
	a, b := resp.Question[0], q.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// servfail returns the SERVFAIL reply to req.
func servfail(req *dns.Msg) *dns.Msg {
	m := reply(req)
	m.Rcode = dns.RcodeServerFailure
	return m
}
