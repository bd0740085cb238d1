package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

// Known answers only names the asker's zones have; everything else,
// including names of other networks and one-label names nobody has, is
// left to the caller to refuse.
func TestKnown(t *testing.T) {
	r := newResolver(t)
	r.SetZone(zoneA)
	r.SetZone(zoneB)
	for _, tt := range []struct {
		name  string
		qtype uint16
		on    []string
		want  string // the answer's first record, "" for NOERROR with none, "nil" for no answer
	}{
		{"web.", dns.TypeA, []string{"A"}, "10.0.0.2"},
		{"WWW.", dns.TypeA, []string{"A"}, "10.0.0.2"},
		{"web.anet.", dns.TypeA, []string{"A"}, "10.0.0.2"},
		{"secret.", dns.TypeA, []string{"A"}, "nil"},
		{"secret.", dns.TypeA, []string{"A", "B"}, "10.1.0.2"},
		{"db.", dns.TypeAAAA, []string{"A"}, ""},
		{"nobody.", dns.TypeA, []string{"A"}, "nil"},
		{"nobody.anet.", dns.TypeA, []string{"A"}, "nil"},
		{"example.com.", dns.TypeA, []string{"A"}, "nil"},
		{"2.0.0.10.in-addr.arpa.", dns.TypePTR, []string{"A"}, "web.anet."},
		{"2.0.1.10.in-addr.arpa.", dns.TypePTR, []string{"A"}, "nil"},
		{"web.", dns.TypeA, nil, "nil"},
	} {
		req := new(dns.Msg).SetQuestion(tt.name, tt.qtype)
		m := r.Known(req, tt.on)
		got := "nil"
		switch {
		case m == nil:
		case !m.Authoritative || m.Rcode != dns.RcodeSuccess:
			t.Errorf("%s %s on %v: not an authoritative NOERROR: %v", tt.name, dns.TypeToString[tt.qtype], tt.on, m)
			continue
		case len(m.Answer) == 0:
			got = ""
		default:
			switch rr := m.Answer[0].(type) {
			case *dns.A:
				got = rr.A.String()
			case *dns.PTR:
				got = rr.Ptr
			default:
				got = rr.String()
			}
		}
		if got != tt.want {
			t.Errorf("%s %s on %v: got %q; want %q", tt.name, dns.TypeToString[tt.qtype], tt.on, got, tt.want)
		}
	}
}
