package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/weftnet/weft/daemon/api"
)

// formatFlag adds --format to a listing command: "table" (the default) for
// people, or "json" for programs, printed as the inspect commands print.
func formatFlag(cmd *cobra.Command) *string {
	format := cmd.Flags().String("format", "table", "output format: table or json")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if *format != "table" && *format != "json" {
			return fmt.Errorf("unknown --format %q: want table or json", *format)
		}
		return nil
	}
	return format
}

// printJSON prints v indented, as `weft network inspect` does.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}

// table returns a tabwriter laid out as the other listings.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 3, ' ', 0) }

func (c *cli) peersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the VTEPs this node knows: their networks and reachability",
		Long: `List every VTEP (remote data plane) this node knows: the peers of its
static-peer networks and the VTEPs they learned from traffic, and every
cluster node. STATE is the gossip state of a cluster node (alive, suspect,
dead, left), "static" for a configured peer, "learned" for a VTEP only seen
sending. LAST SEEN is when a datagram from it last arrived.`,
		Args: cobra.NoArgs,
	}
	format := formatFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return c.call(func(ctx context.Context, cl *api.Client) error {
			peers, err := cl.Peers(ctx)
			if err != nil {
				return err
			}
			if *format == "json" {
				return printJSON(os.Stdout, peers)
			}
			return printPeers(os.Stdout, peers, time.Now())
		})
	}
	return cmd
}

func printPeers(out io.Writer, peers []api.Peer, now time.Time) error {
	w := table(out)
	fmt.Fprintln(w, "VTEP\tNODE\tHOSTNAME\tSTATE\tNETWORKS\tLAST SEEN\tRX PACKETS\tTX PACKETS")
	for _, p := range peers {
		seen := "-"
		if !p.LastSeen.IsZero() {
			seen = roundAge(now.Sub(p.LastSeen)) + " ago"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", p.VTEP, dash(p.NodeID), dash(p.Hostname), p.State,
			dash(strings.Join(p.Networks, ",")), seen, p.RxPackets, p.TxPackets)
	}
	return w.Flush()
}

func (c *cli) fdbCmd() *cobra.Command {
	var network string
	cmd := &cobra.Command{
		Use:   "fdb [--network NAME]",
		Short: "Show the forwarding database: MAC → VTEP and IP → MAC, per network",
		Long: `Show the forwarding database of this node's networks, or of one: where
each remote MAC lives (the VTEP), and which MAC owns each remote IP. TYPE
says where a row came from: "gossip" (a cluster endpoint record),
"learned" (a received frame; AGE is since it was last refreshed, and it
ages out) or "static".`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&network, "network", "", "only this network")
	format := formatFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return c.call(func(ctx context.Context, cl *api.Client) error {
			tables, err := cl.FDB(ctx, network)
			if err != nil {
				return err
			}
			if *format == "json" {
				return printJSON(os.Stdout, tables)
			}
			return printFDB(os.Stdout, tables)
		})
	}
	return cmd
}

func printFDB(out io.Writer, tables []api.FDB) error {
	w := table(out)
	fmt.Fprintln(w, "NETWORK\tVNI\tMAC\tVTEP\tTYPE\tAGE")
	for _, t := range tables {
		for _, e := range t.MACs {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", dash(t.Network), t.VNI, e.MAC, e.VTEP, e.Type, age(e.Type, e.AgeSeconds))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	fmt.Fprintln(w, "NETWORK\tVNI\tIP\tMAC\tTYPE\tAGE")
	for _, t := range tables {
		for _, e := range t.IPs {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", dash(t.Network), t.VNI, e.IP, e.MAC, e.Type, age(e.Type, e.AgeSeconds))
		}
	}
	return w.Flush()
}

// age renders a row's age: only learned rows have one.
func age(kind string, seconds float64) string {
	if kind != api.FDBLearned {
		return "-"
	}
	return roundAge(time.Duration(seconds * float64(time.Second)))
}

// roundAge renders a duration to a tenth of a second under ten seconds and
// to the second above.
func roundAge(d time.Duration) string {
	if d < 10*time.Second {
		return max(d, 0).Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *cli) nodeInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [NODE...]",
		Short: "Show nodes in detail, as JSON (default: this node, \"self\")",
		Long: `Show nodes in detail, as JSON: role, addresses, gossip state, raft
membership and leadership of managers, networks, and this node's weft
version. NODE is "self" (the default), a node ID, a unique prefix of one,
or a unique hostname. Outside a cluster, only this node is known; its role
is "standalone".`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"self"}
			}
			return c.call(func(ctx context.Context, cl *api.Client) error {
				out := []api.NodeInfo{}
				for _, ref := range args {
					n, err := cl.Node(ctx, ref)
					if err != nil {
						return err
					}
					out = append(out, n)
				}
				return printJSON(os.Stdout, out)
			})
		},
	}
}
