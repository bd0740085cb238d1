package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/weftnet/weft/daemon/api"
)

func (c *cli) networkCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks"}
	cmd.AddCommand(c.networkCreateCmd(), c.networkLsCmd(), c.networkInspectCmd(), c.networkRmCmd())
	return cmd
}

func (c *cli) networkCreateCmd() *cobra.Command {
	var req api.NetworkCreate
	cmd := &cobra.Command{
		Use:   "create [--subnet CIDR] [--attachable] [--vni N --peer IP ...] NAME",
		Short: "Create a cluster-wide network, or with --vni/--peer a static-peer network on this host",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			return c.call(func(ctx context.Context, cl *api.Client) error {
				n, err := cl.CreateNetwork(ctx, req)
				if err != nil {
					return err
				}
				fmt.Println(n.ID)
				return nil
			})
		},
	}
	f := cmd.Flags()
	var opts []string
	f.Uint32Var(&req.VNI, "vni", 0, "static-peer network: VXLAN network identifier (1-16777215)")
	f.StringArrayVar(&req.Peers, "peer", nil, "static-peer network: underlay address of a peer VTEP, IP or IP:PORT (repeatable)")
	f.StringVar(&req.Subnet, "subnet", "", "subnet in CIDR form (cluster networks: default from the address pool)")
	f.StringVar(&req.Gateway, "gateway", "", "gateway address, reserved in the subnet; on every host's bridge, the containers' default route (static-peer networks: no way out without it)")
	f.StringVar(&req.IPRange, "ip-range", "", "cluster networks: allocate container addresses from this sub-range")
	f.IntVar(&req.MTU, "mtu", 0, "overlay MTU (default: underlay MTU minus VXLAN overhead)")
	f.BoolVar(&req.Attachable, "attachable", false, "cluster networks: let containers be attached by hand (weft attach)")
	f.BoolVar(&req.Internal, "internal", false, "no way out of the overlay: no gateway, no default route, nothing forwarded to or from outside")
	f.BoolVar(&req.Encrypted, "encrypted", false, "cluster networks: seal every frame between hosts with ESP (AES-GCM); same as --opt encrypted")
	f.StringArrayVarP(&opts, "opt", "o", nil, "driver option KEY=VALUE (repeatable)")
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		var err error
		req.Options, err = parseOpts(opts)
		req.Static = cmd.Flags().Changed("vni") || len(req.Peers) > 0
		if _, ok := req.Options["encrypted"]; ok {
			req.Encrypted = true
		}
		return err
	}
	return cmd
}

// parseOpts reads --opt KEY=VALUE flags.
func parseOpts(opts []string) (map[string]string, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=") // a bare KEY, as Docker's --opt encrypted
		if k == "" {
			return nil, fmt.Errorf("invalid --opt %q: want KEY=VALUE or KEY", o)
		}
		m[k] = v
	}
	return m, nil
}

func (c *cli) networkLsCmd() *cobra.Command {
	quiet := false
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(func(ctx context.Context, cl *api.Client) error {
				ns, err := cl.Networks(ctx)
				if err != nil {
					return err
				}
				printNetworks(ns, quiet)
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show network names")
	return cmd
}

func printNetworks(ns []api.Network, quiet bool) {
	if quiet {
		for _, n := range ns {
			fmt.Println(n.Name)
		}
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER\tVNI\tSUBNET\tMTU\tPEERS\tCONTAINERS")
	for _, n := range ns {
		subnet := ""
		if len(n.IPAM.Config) > 0 {
			subnet = n.IPAM.Config[0].Subnet
		}
		fmt.Fprintf(w, "%.12s\t%s\t%s\t%d\t%s\t%d\t%s\t%d\n", n.ID, n.Name, n.Driver, n.VNI, subnet, n.MTU, strings.Join(n.Peers, ","), len(n.Containers))
	}
	w.Flush()
}

func (c *cli) networkInspectCmd() *cobra.Command {
	var showKeys bool
	cmd := &cobra.Command{
		Use:   "inspect [--show-keys] NAME [NAME...]",
		Short: "Show networks in detail, as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(func(ctx context.Context, cl *api.Client) error {
				out := []api.Network{}
				for _, name := range args {
					n, err := cl.Network(ctx, name)
					if err != nil {
						return err
					}
					if showKeys {
						if n.SAs, err = cl.NetworkKeys(ctx, name); err != nil {
							return err
						}
					}
					out = append(out, n)
				}
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "    ")
				return enc.Encode(out)
			})
		},
	}
	cmd.Flags().BoolVar(&showKeys, "show-keys", false, "encrypted networks: also list the live ESP SAs with their keys, to decrypt a capture (root only)")
	return cmd
}

func (c *cli) networkRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME [NAME...]",
		Aliases: []string{"remove"},
		Short:   "Remove networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(func(ctx context.Context, cl *api.Client) error {
				failed := 0
				for _, name := range args {
					if err := cl.RemoveNetwork(ctx, name); err != nil {
						fmt.Fprintln(os.Stderr, "Error:", err)
						failed++
						continue
					}
					fmt.Println(name)
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d networks not removed", failed, len(args))
				}
				return nil
			})
		},
	}
}
