package egress

import (
	"net/netip"
	"slices"
	"testing"
)

var (
	outNet = Network{Name: "appnet", Bridge: "wbr100", TAP: "wtap100", Subnet: netip.MustParsePrefix("198.19.1.0/24"), Gateway: netip.MustParseAddr("198.19.1.1")}
	inNet  = Network{Name: "secret", Bridge: "wbr200", TAP: "wtap200", Subnet: netip.MustParsePrefix("198.19.2.0/24"), Internal: true}
	web    = Published{Port: Port{HostPort: 8080, ContainerPort: 80, Proto: TCP}, Network: "appnet", Container: "web", Addr: netip.MustParseAddr("198.19.1.2")}
)

func TestBuildEmptyRemovesTheTables(t *testing.T) {
	if rs := Build(Desired{}); len(rs.Chains) != 0 || rs.Forwarding {
		t.Fatalf("Build(nothing) = %+v; want no chains", rs)
	}
}

func TestBuildWayOut(t *testing.T) {
	rs := Build(Desired{Networks: []Network{outNet}, Published: []Published{web}})
	if !rs.Forwarding {
		t.Error("a network with a gateway does not turn forwarding on")
	}
	masq := rs.Chain(Inet, Postrouting).Rules
	if len(masq) != 1 || masq[0].Verdict != Masquerade || masq[0].Src != outNet.Subnet || masq[0].NotOIf != "wbr100" {
		t.Errorf("postrouting = %+v; want one masquerade of 198.19.1.0/24 not out of wbr100", masq)
	}
	fwd := rs.Chain(Inet, Forward).Rules
	last := fwd[len(fwd)-1]
	if last.OIf != "wbr100" || last.Verdict != Drop || last.CtReply || last.CtDNAT {
		t.Errorf("forward ends with %+v; want a drop of everything else into wbr100", last)
	}
	if !slices.ContainsFunc(fwd, func(r Rule) bool { return r.OIf == "wbr100" && r.CtDNAT && r.Verdict == Accept }) {
		t.Errorf("forward %+v lets no published port in", fwd)
	}
	for _, h := range []Hook{Prerouting, Output} {
		got := rs.Chain(Inet, h).Rules
		if len(got) != 1 || got[0].Verdict != DNAT || got[0].To != netip.MustParseAddrPort("198.19.1.2:80") || got[0].DPort != 8080 || got[0].Proto != TCP || !got[0].LocalDst {
			t.Errorf("%s = %+v; want one DNAT of 8080/tcp to 198.19.1.2:80", h, got)
		}
	}
	if o := rs.Chain(Inet, Output).Rules[0].NotDst; o != netip.MustParsePrefix("127.0.0.0/8") {
		t.Errorf("output DNAT excludes %v; want 127.0.0.0/8", o)
	}
	for _, h := range []Hook{Input, Forward, Output} {
		if n := len(rs.Chain(Bridge, h).Rules); n != 1 {
			t.Errorf("bridge %s has %d rules; want 1 keeping the gateway off wtap100", h, n)
		}
	}
	if a := rs.Chain(Bridge, Forward).Rules[0]; a.ARPTarget != outNet.Gateway || a.OIf != "wtap100" || a.Verdict != Drop {
		t.Errorf("bridge forward = %+v; want ARP for 198.19.1.1 dropped towards wtap100", a)
	}
}

func TestBuildInternal(t *testing.T) {
	rs := Build(Desired{Networks: []Network{inNet}})
	if rs.Forwarding {
		t.Error("an internal network turns forwarding on")
	}
	for _, c := range rs.Chains {
		for _, r := range c.Rules {
			if r.Verdict == Masquerade || r.Verdict == DNAT || r.ARPTarget.IsValid() {
				t.Errorf("internal network has %s %s rule %+v", c.Family, c.Hook, r)
			}
		}
	}
	fwd := rs.Chain(Inet, Forward).Rules
	for _, want := range []Rule{{IIf: "wbr200", Verdict: Drop}, {OIf: "wbr200", Verdict: Drop}} {
		if !slices.ContainsFunc(fwd, func(r Rule) bool { return r.IIf == want.IIf && r.OIf == want.OIf && r.Verdict == Drop }) {
			t.Errorf("forward %+v lacks a drop of iif %q oif %q", fwd, want.IIf, want.OIf)
		}
	}
	if fwd[0].IIf != "wbr200" || fwd[0].OIf != "wbr200" || fwd[0].Verdict != Accept {
		t.Errorf("forward starts with %+v; want bridged frames accepted before the drops", fwd[0])
	}
	in := rs.Chain(Inet, Input).Rules
	if len(in) != 1 || in[0].IIf != "wbr200" || in[0].Verdict != Drop {
		t.Errorf("input = %+v; want the host closed to wbr200", in)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	other := web
	other.HostPort, other.Container = 9090, "api"
	a := Build(Desired{Networks: []Network{outNet, inNet}, Published: []Published{web, other}})
	b := Build(Desired{Networks: []Network{inNet, outNet}, Published: []Published{other, web}})
	if !slices.EqualFunc(a.Chains, b.Chains, func(x, y Chain) bool { return slices.Equal(x.Rules, y.Rules) && x.Hook == y.Hook }) {
		t.Fatalf("the order of the wish changes the rules:\n%+v\n%+v", a, b)
	}
}

func TestNoWayOutWithoutGateway(t *testing.T) {
	n := outNet
	n.Gateway = netip.Addr{}
	rs := Build(Desired{Networks: []Network{n}})
	if rs.Forwarding || len(rs.Chain(Inet, Postrouting).Rules) != 0 {
		t.Fatalf("a network with no gateway has a way out: %+v", rs)
	}
}
