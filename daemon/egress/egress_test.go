package egress

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Port
		err  string // a part of the error; "" for none
	}{
		{spec: "8080:80", want: Port{HostPort: 8080, ContainerPort: 80, Proto: TCP}},
		{spec: "8080:80/tcp", want: Port{HostPort: 8080, ContainerPort: 80, Proto: TCP}},
		{spec: "53:5353/UDP", want: Port{HostPort: 53, ContainerPort: 5353, Proto: UDP}},
		{spec: "65535:1/udp", want: Port{HostPort: 65535, ContainerPort: 1, Proto: UDP}},
		{spec: "8080", err: "no ':'"},
		{spec: "0:80", err: "host port"},
		{spec: "8080:65536", err: "container port"},
		{spec: "x:80", err: "host port"},
		{spec: "8080:80/sctp", err: `protocol "sctp"`},
		{spec: ":80", err: "host port"},
		{spec: "", err: "no ':'"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParsePort(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), `"`+tc.spec+`"`) {
					t.Fatalf("ParsePort(%q) error = %v; want one naming the value and %q", tc.spec, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParsePort(%q) = %v, %v; want %v", tc.spec, got, err, tc.want)
			}
			if again, err := ParsePort(got.String()); err != nil || again != got {
				t.Fatalf("round trip of %v: got %v, %v", got, again, err)
			}
		})
	}
}

func TestParsePortsRefusesAHostPortTwice(t *testing.T) {
	if _, err := ParsePorts([]string{"8080:80", "8080:81/udp"}); err != nil {
		t.Fatalf("tcp and udp on one port: %v; want both", err)
	}
	_, err := ParsePorts([]string{"8080:80", "8080:81/tcp"})
	if err == nil || !strings.Contains(err.Error(), "8080/tcp") {
		t.Fatalf("got %v; want a refusal naming 8080/tcp", err)
	}
}

func TestTaken(t *testing.T) {
	have := []Published{{Port: Port{HostPort: 8080, ContainerPort: 80, Proto: TCP}, Network: "appnet", Container: "web", Addr: netip.MustParseAddr("198.19.1.2")}}
	if _, ok := Taken(have, Port{HostPort: 8080, ContainerPort: 90, Proto: UDP}); ok {
		t.Fatal("8080/udp taken by 8080/tcp")
	}
	by, ok := Taken(have, Port{HostPort: 8080, ContainerPort: 90, Proto: TCP})
	if !ok {
		t.Fatal("8080/tcp not taken")
	}
	msg := TakenError(Port{HostPort: 8080, ContainerPort: 90, Proto: TCP}, by).Error()
	for _, want := range []string{"8080/tcp", "web", "198.19.1.2:80", "appnet"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %s", msg, want)
		}
	}
}
