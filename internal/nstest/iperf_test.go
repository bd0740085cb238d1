//go:build linux

package nstest

import "testing"

// iperfSample is the output of iperf3 3.12 -c -t 1 -J, trimmed to its start
// and end summaries.
const iperfSample = `{
	"start":	{
		"version":	"iperf 3.12",
		"test_start":	{"protocol":	"TCP", "num_streams":	1, "duration":	1}
	},
	"intervals":	[],
	"end":	{
		"sum_sent":	{
			"start":	0,
			"end":	1.000236,
			"seconds":	1.000236,
			"bytes":	3236167680,
			"bits_per_second":	25883232997.012707,
			"retransmits":	9,
			"sender":	true
		},
		"sum_received":	{
			"start":	0,
			"end":	1.000275,
			"seconds":	1.000275,
			"bytes":	3236167680,
			"bits_per_second":	25882223828.447178,
			"sender":	true
		},
		"sender_tcp_congestion":	"bbr",
		"receiver_tcp_congestion":	"bbr"
	}
}`

// iperfRefused is iperf3 3.12's output when nothing listens.
const iperfRefused = `{
	"start":	{"connected":	[], "version":	"iperf 3.12"},
	"intervals":	[],
	"end":	{
	},
	"error":	"unable to connect to server: Connection refused"
}`

func TestParseIperf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    IperfResult
		wantErr bool
	}{
		{"sample", iperfSample, IperfResult{25882223828.447178, 3236167680, 1.000275, 9}, false},
		{"refused", iperfRefused, IperfResult{}, true},
		{"no summary", `{"end": {}}`, IperfResult{}, true},
		{"empty", ``, IperfResult{}, true},
		{"truncated", iperfSample[:200], IperfResult{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIperf([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseIperf = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
