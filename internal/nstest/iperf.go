//go:build linux

package nstest

import (
	"encoding/json"
	"errors"
)

// IperfReceivedBPS reads the receiver's throughput, in bits per second, from
// the JSON report of an iperf3 TCP test (iperf3 -J).
func IperfReceivedBPS(report []byte) (float64, error) {
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(report, &r); err != nil {
		return 0, err
	}
	if r.Error != "" {
		return 0, errors.New("iperf3: " + r.Error)
	}
	return r.End.SumReceived.BitsPerSecond, nil
}
