package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/gopacket/pcapgo"
	"github.com/spf13/cobra"
	"github.com/weftnet/weft/daemon/api"
)

func (c *cli) debugCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "debug", Short: "Diagnose the data plane"}
	cmd.AddCommand(c.captureCmd())
	return cmd
}

func (c *cli) captureCmd() *cobra.Command {
	var req api.Capture
	var file string
	cmd := &cobra.Command{
		Use:   "capture --network NAME -w FILE [--count N] [--duration D]",
		Short: "Write a pcap of one network's inner Ethernet frames on this node",
		Long: `Capture one network's inner Ethernet frames, as its bridge on this node
sees them (the frames of its containers here, to and from everywhere), and
write them to FILE as a pcap file (-w - writes to standard output, e.g. to
pipe into 'wireshark -k -i -'). The capture stops after --count frames,
after --duration, or on Ctrl-C, whichever comes first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.capture(req, file)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Network, "network", "", "network to capture")
	f.StringVarP(&file, "write", "w", "", "pcap file to write; - for standard output")
	f.IntVarP(&req.Count, "count", "c", api.DefaultCaptureCount, fmt.Sprintf("stop after this many frames (at most %d)", api.MaxCaptureCount))
	f.DurationVar(&req.Duration, "duration", api.DefaultCaptureDuration, fmt.Sprintf("stop after this long (at most %s)", api.MaxCaptureDuration))
	_ = cmd.MarkFlagRequired("network")
	_ = cmd.MarkFlagRequired("write")
	return cmd
}

// capture runs a capture and writes its frames to file. A file it creates
// is removed again if the capture does not start; an existing one is left
// as it was.
func (c *cli) capture(req api.Capture, file string) error {
	if req.Count <= 0 || req.Duration <= 0 {
		return fmt.Errorf("--count and --duration must be positive")
	}
	cl, err := api.NewClient(c.host)
	if err != nil {
		return err
	}
	out, err := openOutput(file)
	if err != nil {
		return err
	}
	defer out.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, req.Duration+30*time.Second) // a stuck daemon never hangs the CLI
	defer cancel()
	stream, err := cl.Capture(ctx, req)
	if err != nil {
		out.discard()
		return err
	}
	defer stream.Close()
	if err := out.start(); err != nil {
		return err
	}
	n, err := copyPcap(out.w, stream)
	interrupted := errors.Is(ctx.Err(), context.Canceled)
	if err != nil && !interrupted {
		return fmt.Errorf("capture of %s: %w after %d frames", req.Network, err, n)
	}
	res, ok := stream.Result()
	fmt.Fprintf(os.Stderr, "%d packets captured\n", n)
	if ok {
		fmt.Fprintf(os.Stderr, "%d packets dropped by kernel\n", res.Dropped)
		if res.Err != nil {
			return fmt.Errorf("capture of %s ended early: %w", req.Network, res.Err)
		}
	}
	return nil
}

// copyPcap copies a pcap stream record by record, so that the output is a
// whole pcap file however the stream ends, and flushes each record so that
// a reader of a pipe has it at once. It returns how many frames it copied.
func copyPcap(w io.Writer, stream io.Reader) (int, error) {
	r, err := pcapgo.NewReader(stream)
	if err != nil {
		return 0, fmt.Errorf("read pcap header: %w", err)
	}
	bw := bufio.NewWriter(w)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		return 0, err
	}
	n := 0
	for {
		if err := bw.Flush(); err != nil {
			return n, err
		}
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if err := pw.WritePacket(ci, data); err != nil {
			return n, err
		}
		n++
	}
}

// output is where a capture goes: a file, or standard output.
type output struct {
	w       *os.File
	path    string // "" for standard output
	created bool   // the file did not exist before
}

// openOutput checks that a capture can be written to path before the
// capture starts: it opens the file without truncating it yet.
func openOutput(path string) (*output, error) {
	if path == "-" {
		return &output{w: os.Stdout}, nil
	}
	_, err := os.Stat(path)
	created := errors.Is(err, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot write the capture to %s: %w", path, err)
	}
	return &output{w: f, path: path, created: created}, nil
}

// start empties the file for the capture.
func (o *output) start() error {
	if o.path == "" {
		return nil
	}
	if err := o.w.Truncate(0); err != nil {
		return fmt.Errorf("cannot write the capture to %s: %w", o.path, err)
	}
	return nil
}

// discard removes the file if this capture created it.
func (o *output) discard() {
	if o.path != "" && o.created {
		_ = os.Remove(o.path)
	}
}

// Close closes the file; standard output stays open.
func (o *output) Close() error {
	if o.path == "" {
		return nil
	}
	return o.w.Close()
}
