//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// iperf runs one TCP test from t.c1 to t.c2 on port with streams parallel
// streams for seconds: a one-shot server in c2, the client in c1 under a
// timeout. The server goes with the lab if the client never reaches it.
func iperf(ctx context.Context, t *topology, port, streams, seconds int) (nstest.IperfResult, error) {
	p := strconv.Itoa(port)
	log := filepath.Join(t.dir, fmt.Sprintf("iperf3-server-%d.log", port))
	if _, err := t.lab.Start(t.c2, log, "iperf3", "-s", "-1", "-p", p); err != nil {
		return nstest.IperfResult{}, err
	}
	if err := nstest.WaitListening(ctx, t.c2, port, 5*time.Second); err != nil {
		return nstest.IperfResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", t.c1, "iperf3", "-c", c2Addr.Addr().String(),
		"-p", p, "-t", strconv.Itoa(seconds), "-P", strconv.Itoa(streams), "-J", "--connect-timeout", "3000")
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	res, perr := nstest.ParseIperf(out)
	if perr == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("iperf3 client in %s: %w", t.c1, ctx.Err())
	}
	if err != nil {
		return res, fmt.Errorf("iperf3 client in %s: %w: %w", t.c1, err, perr)
	}
	return res, perr
}
