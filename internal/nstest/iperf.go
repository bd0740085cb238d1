//go:build linux

package nstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// IperfResult is what one iperf3 TCP test measured.
type IperfResult struct {
	BitsPerSecond float64 // end.sum_received.bits_per_second
	Bytes         int64   // end.sum_received.bytes
	Seconds       float64 // end.sum_received.seconds
	Retransmits   int     // end.sum_sent.retransmits
}

// ParseIperf reads the JSON report of an iperf3 TCP test (iperf3 -J). A
// report that carries an error, or no receiver summary, is an error.
func ParseIperf(out []byte) (IperfResult, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived *struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				Bytes         int64   `json:"bytes"`
				Seconds       float64 `json:"seconds"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return IperfResult{}, fmt.Errorf("iperf3 output is not JSON: %w", err)
	}
	if doc.Error != "" {
		return IperfResult{}, fmt.Errorf("iperf3: %s", doc.Error)
	}
	r := doc.End.SumReceived
	if r == nil {
		return IperfResult{}, errors.New("iperf3 output has no end.sum_received")
	}
	return IperfResult{r.BitsPerSecond, r.Bytes, r.Seconds, doc.End.SumSent.Retransmits}, nil
}

// WaitListening polls until a TCP socket listens on port in ns, for up to
// limit or until ctx is done.
func WaitListening(ctx context.Context, ns string, port int, limit time.Duration) error {
	filter := fmt.Sprintf("sport = :%d", port)
	listening := false
	poll.Wait(limit, func() bool {
		out, err := Exec(ns, "ss", "-Hltn", filter)
		listening = err == nil && strings.TrimSpace(out) != ""
		return listening || ctx.Err() != nil
	})
	switch {
	case listening:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("wait for a listener on %s port %d: %w", ns, port, ctx.Err())
	}
	return fmt.Errorf("nothing listens on %s port %d after %s", ns, port, limit)
}
