//go:build linux

// Command bench measures weft's data plane against the kernel's own VXLAN
// device, and against no tunnel at all, on the same machine.
//
// Each host is a network namespace on a shared underlay switch, and each
// carries one container namespace; c1 on h1 sends to c2 on h2:
//
//	container → host → [tunnel] → veth underlay → [tunnel] → host → container
//
// The modes differ in what joins the containers:
//
//   - veth: no tunnel. Each container has a veth to its host, which routes
//     the other container's address to the other host across the underlay
//     (IP forwarding, and proxy ARP on the container's veth). Container MTU
//     1500. The ceiling the tunnels are measured against.
//   - kernel: a kernel VXLAN device (static peers) bridged with the
//     container's veth on each host, overlay MTU 1450.
//   - weft: weftd, a static-peer network on VNI 42 (MTU 1450), on its fast
//     path: TAP offloads (TCP super-frames split and coalesced in weftd) and
//     UDP_SEGMENT/UDP_GRO on the underlay socket.
//   - weft-encrypted: weftd in a two-node cluster (h1 manager, h2 worker), an
//     attachable encrypted network (ESP, AES-GCM), with its smaller MTU.
//   - weft-portable: as weft, with weftd's portable TAP driver
//     (--tap-driver water: one frame per read and write).
//   - weft-no-offload: as weft, with --tap-offload=false --udp-offload=false:
//     batched reads and writes, but one frame and one datagram each.
//   - weft-2queues: as weft, with --queues 2: two TAP queues and two
//     underlay sockets, each with its own loop.
//
// Every mode keeps the veths' default offloads. Each round builds a fresh
// topology per mode, in the order above, runs the tests and tears it down;
// rounds interleave the modes so that drift on a shared machine hits them all
// alike, and every ratio is taken against the kernel VXLAN of the same round
// before the median is taken. Addresses: underlay 198.18.0.0/16, overlay
// 198.19.1.0/24 (the cluster's pool 198.19.0.0/16), nothing else.
//
// The tests of a topology, in order: ping RTT (p50, p99 of every reply);
// iperf3 TCP for each -P stream count; iperf3 UDP with 1350-byte datagrams at
// each -rates offered rate in turn, up to the first with more than 1% loss
// (the report gives the most received at a rate with at most 1% lost);
// iperf3 UDP with 64-byte datagrams as fast as the sender can (packets per
// second received). weftd's CPU seconds per gigabyte come from /proc.
//
// It prints a Markdown table of medians and ratios, and writes to -out
// results.json (every sample and the machine's description), results.md and
// chart.png. It needs root:
//
//	go run ./bench -bin bin           # 3 rounds, under ten minutes on 2 CPUs
//	go run ./bench -bin bin -quick    # 1 round of short tests, about a minute
//	go run ./bench -modes kernel,weft -rounds 5 -duration 10
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	if v := os.Getenv("WEFT_E2E_WEFTD_ARGS"); v != "" { // nstest would give every weftd these flags
		return fmt.Errorf("WEFT_E2E_WEFTD_ARGS=%q is set: unset it, so that each mode runs weftd as it says", v)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	go func() { <-ctx.Done(); stop() }() // a second ^C kills at once

	scratch, err := os.MkdirTemp("", "weft-bench-")
	if err != nil {
		return err
	}
	r := &runner{cfg: cfg, scratch: scratch, bin: cfg.Bin}
	err = r.all(ctx)
	if err == nil {
		os.RemoveAll(scratch)
	} else {
		fmt.Fprintf(os.Stderr, "bench: logs kept in %s\n", scratch)
	}
	return err
}
