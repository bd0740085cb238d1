// Command weft is the command-line client of weftd.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/weftnet/weft/daemon/api"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// cli carries what every command needs: the daemon to talk to.
type cli struct {
	host string
}

// call runs f with a client of the daemon and a deadline, so that a stuck
// daemon never hangs the CLI.
func (c *cli) call(f func(ctx context.Context, cl *api.Client) error) error {
	cl, err := api.NewClient(c.host)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return f(ctx, cl)
}

func newRoot() *cobra.Command {
	c := &cli{}
	root := &cobra.Command{
		Use:           "weft",
		Short:         "Manage weft overlay networks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	host := os.Getenv("WEFT_HOST")
	if host == "" {
		host = api.DefaultHost
	}
	root.PersistentFlags().StringVarP(&c.host, "host", "H", host, "daemon socket to connect to (env WEFT_HOST)")
	root.AddCommand(c.networkCmd(), c.attachCmd(), c.detachCmd(), c.clusterCmd(), c.nodeCmd(),
		c.peersCmd(), c.fdbCmd(), c.debugCmd(), c.versionCmd())
	return root
}
