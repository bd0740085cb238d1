package main

import (
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
		Use:   "create --vni N --subnet CIDR [--peer IP ...] NAME",
		Short: "Create a static-peer network on this host",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx, cancel := ctx()
			defer cancel()
			n, err := cl.CreateNetwork(ctx, req)
			if err != nil {
				return err
			}
			fmt.Println(n.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&req.VNI, "vni", 0, "VXLAN network identifier (1-16777215)")
	f.StringArrayVar(&req.Peers, "peer", nil, "underlay address of a peer VTEP, IP or IP:PORT (repeatable)")
	f.StringVar(&req.Subnet, "subnet", "", "subnet in CIDR form")
	f.StringVar(&req.Gateway, "gateway", "", "gateway address, reserved in the subnet")
	f.IntVar(&req.MTU, "mtu", 0, "overlay MTU (default: underlay MTU minus VXLAN overhead)")
	_ = cmd.MarkFlagRequired("vni")
	_ = cmd.MarkFlagRequired("subnet")
	return cmd
}

func (c *cli) networkLsCmd() *cobra.Command {
	quiet := false
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx, cancel := ctx()
			defer cancel()
			ns, err := cl.Networks(ctx)
			if err != nil {
				return err
			}
			printNetworks(ns, quiet)
			return nil
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
	return &cobra.Command{
		Use:   "inspect NAME [NAME...]",
		Short: "Show networks in detail, as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx, cancel := ctx()
			defer cancel()
			out := []api.Network{}
			for _, name := range args {
				n, err := cl.Network(ctx, name)
				if err != nil {
					return err
				}
				out = append(out, n)
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "    ")
			return enc.Encode(out)
		},
	}
}

func (c *cli) networkRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME [NAME...]",
		Aliases: []string{"remove"},
		Short:   "Remove networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx, cancel := ctx()
			defer cancel()
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
		},
	}
}
