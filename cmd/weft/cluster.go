package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/daemon/api"
)

func (c *cli) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Manage the cluster this node belongs to"}
	cmd.AddCommand(c.clusterInitCmd(), c.clusterJoinCmd(), c.clusterJoinTokenCmd(), c.clusterUpdateCmd(), c.clusterLeaveCmd())
	return cmd
}

func (c *cli) clusterInitCmd() *cobra.Command {
	var req api.ClusterInit
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Make this node the first manager of a new cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(func(ctx context.Context, cl *api.Client) error {
				info, err := cl.ClusterInit(ctx, req)
				if err != nil {
					return err
				}
				addr := "MANAGER:2377"
				if len(info.Managers) > 0 {
					addr = info.Managers[0]
				}
				fmt.Printf("Cluster initialized: current node (%s) is now a manager.\n\n", info.NodeID)
				fmt.Printf("To add a worker to this cluster, run the following command:\n\n    weft cluster join --token %s %s\n\n", info.WorkerToken, addr)
				fmt.Printf("To add a manager to this cluster, run 'weft cluster join-token manager' and follow the instructions.\n")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.AdvertiseAddr, "advertise-addr", "", "address other nodes reach this manager at (default: the data path address)")
	f.StringVar(&req.ListenAddr, "listen-addr", "", "address to listen on for managers and joins (default 0.0.0.0:2377)")
	f.StringVar(&req.DefaultAddrPool, "default-addr-pool", "", "CIDR that networks without --subnet take their subnet from (default 10.0.0.0/8)")
	f.IntVar(&req.PoolMaskLen, "default-addr-pool-mask-length", 0, "prefix length of subnets taken from the pool (default 24)")
	f.StringVar(&req.CertExpiry, "cert-expiry", "", "validity of node certificates, renewed when a third is left (default 2160h0m0s, at least 1m)")
	f.StringVar(&req.DataPathAddr, "data-path-addr", "", "underlay address for VXLAN; must be weftd's --data-path-addr")
	f.IntVar(&req.DataPathPort, "data-path-port", 0, "UDP port for VXLAN; must be weftd's --data-path-port")
	return cmd
}

func (c *cli) clusterUpdateCmd() *cobra.Command {
	var req api.ClusterUpdate
	cmd := &cobra.Command{
		Use:   "update --cert-expiry DURATION",
		Short: "Change the cluster's settings (on a manager)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.CertExpiry == "" {
				return fmt.Errorf("nothing to update: give --cert-expiry")
			}
			return c.call(func(ctx context.Context, cl *api.Client) error {
				if err := cl.ClusterUpdate(ctx, req); err != nil {
					return err
				}
				fmt.Println("Cluster updated.")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.CertExpiry, "cert-expiry", "", "validity of node certificates issued or renewed from now on (at least 1m)")
	return cmd
}

func (c *cli) clusterJoinCmd() *cobra.Command {
	var req api.ClusterJoin
	cmd := &cobra.Command{
		Use:   "join --token TOKEN MANAGER:2377",
		Short: "Join a cluster as a worker or a manager (the token says which)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.RemoteAddr = args[0]
			return c.call(func(ctx context.Context, cl *api.Client) error {
				info, err := cl.ClusterJoin(ctx, req)
				if err != nil {
					return err
				}
				fmt.Printf("This node joined a cluster as a %s.\n", info.Role)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Token, "token", "", "join token")
	f.StringVar(&req.AdvertiseAddr, "advertise-addr", "", "address other nodes reach this node at (default: the data path address)")
	f.StringVar(&req.ListenAddr, "listen-addr", "", "address to listen on if this node becomes a manager (default 0.0.0.0:2377)")
	f.StringVar(&req.DataPathAddr, "data-path-addr", "", "underlay address for VXLAN; must be weftd's --data-path-addr")
	f.IntVar(&req.DataPathPort, "data-path-port", 0, "UDP port for VXLAN; must be weftd's --data-path-port")
	_ = cmd.MarkFlagRequired("token")
	return cmd
}

func (c *cli) clusterJoinTokenCmd() *cobra.Command {
	var req api.JoinToken
	quiet := false
	cmd := &cobra.Command{
		Use:   "join-token [-q] [--rotate] worker|manager",
		Short: "Print or rotate the token that joins a worker or a manager",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Role = args[0]
			if _, err := pki.ParseRole(req.Role); err != nil {
				return fmt.Errorf("unknown role %q: want worker or manager", req.Role)
			}
			return c.call(func(ctx context.Context, cl *api.Client) error {
				tok, err := cl.JoinToken(ctx, req)
				if err != nil {
					return err
				}
				if quiet {
					fmt.Println(tok.Token)
					return nil
				}
				if req.Rotate {
					fmt.Printf("Successfully rotated %s join token.\n\n", req.Role)
				}
				fmt.Printf("To add a %s to this cluster, run the following command:\n\n    weft cluster join --token %s MANAGER:2377\n", req.Role, tok.Token)
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only print the token")
	cmd.Flags().BoolVar(&req.Rotate, "rotate", false, "rotate the token; the old one stops working")
	return cmd
}

func (c *cli) clusterLeaveCmd() *cobra.Command {
	var req api.ClusterLeave
	cmd := &cobra.Command{
		Use:   "leave [--force]",
		Short: "Leave the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(func(ctx context.Context, cl *api.Client) error {
				if err := cl.ClusterLeave(ctx, req); err != nil {
					return err
				}
				fmt.Println("Node left the cluster.")
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&req.Force, "force", "f", false, "leave even if this is the last manager")
	return cmd
}

func (c *cli) nodeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Manage the cluster's nodes"}
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the cluster's nodes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(func(ctx context.Context, cl *api.Client) error {
				nodes, err := cl.Nodes(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
				fmt.Fprintln(w, "ID\tHOSTNAME\tSTATUS\tROLE\tMANAGER STATUS\tADDRESS")
				for _, n := range nodes {
					id := n.ID
					if n.Self {
						id += " *"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", id, n.Hostname, n.Status, n.Role, n.ManagerStatus, n.Addr)
				}
				return w.Flush()
			})
		},
	}
	force := false
	rm := &cobra.Command{
		Use:   "rm [--force] NODE",
		Short: "Remove a node from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(func(ctx context.Context, cl *api.Client) error {
				if err := cl.RemoveNode(ctx, args[0], force); err != nil {
					return err
				}
				fmt.Println(args[0])
				return nil
			})
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "remove a node that is still up")
	cmd.AddCommand(ls, rm, c.nodeInspectCmd())
	return cmd
}
