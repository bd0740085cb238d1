package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/weftnet/weft/daemon/api"
)

func (c *cli) attachCmd() *cobra.Command {
	var req api.Attach
	cmd := &cobra.Command{
		Use:   "attach --network NAME [--ip ADDR] [--name CNAME] [--alias A] [--publish HOSTPORT:PORT[/tcp|udp]] NETNS",
		Short: "Attach a network namespace (a name under /run/netns, or a path) to a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Netns = args[0]
			return c.call(func(ctx context.Context, cl *api.Client) error {
				ep, err := cl.Attach(ctx, req)
				if err != nil {
					return err
				}
				fmt.Printf("%s %s %s %s\n", ep.Interface, ep.IPv4Address+ep.IPv6Address, ep.MacAddress, ep.EndpointID)
				switch {
				case ep.ResolvConf != "":
					fmt.Printf("resolver %s (in %s, which 'ip netns exec' uses)\n", ep.Resolver, ep.ResolvConf)
				case ep.Resolver != "":
					fmt.Printf("resolver %s: give the container an /etc/resolv.conf with 'nameserver %s'\n", ep.Resolver, ep.Resolver)
				default:
					fmt.Println("no resolver in this namespace: see weftd's log")
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Network, "network", "", "network to attach to")
	f.StringVar(&req.IP, "ip", "", "address of the container on the network (cluster networks: allocated when omitted)")
	f.StringVar(&req.Name, "name", "", "container name")
	f.StringArrayVar(&req.Aliases, "alias", nil, "another name of the container on this network (repeatable)")
	f.StringArrayVar(&req.Publish, "publish", nil, "publish a port of the container on this host's addresses, HOSTPORT:PORT[/tcp|udp] (repeatable; tcp by default)")
	_ = cmd.MarkFlagRequired("network")
	return cmd
}

func (c *cli) detachCmd() *cobra.Command {
	var req api.Detach
	cmd := &cobra.Command{
		Use:   "detach --network NAME NETNS",
		Short: "Detach a network namespace from a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Netns = args[0]
			return c.call(func(ctx context.Context, cl *api.Client) error {
				return cl.Detach(ctx, req)
			})
		},
	}
	cmd.Flags().StringVar(&req.Network, "network", "", "network to detach from")
	_ = cmd.MarkFlagRequired("network")
	return cmd
}
