package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/weftnet/weft/daemon/api"
)

// versions is what `weft version --format json` prints.
type versions struct {
	Client api.Version  `json:"Client"`
	Server *api.Version `json:"Server"` // null when weftd cannot be reached
}

func (c *cli) versionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the weft version of this CLI and of weftd",
		Args:  cobra.NoArgs,
	}
	format := formatFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := versions{Client: api.ThisBuild()}
		err := c.call(func(ctx context.Context, cl *api.Client) error {
			server, err := cl.Version(ctx)
			if err == nil {
				v.Server = &server
			}
			return err
		})
		if *format == "json" {
			if perr := printJSON(os.Stdout, v); perr != nil {
				return perr
			}
			return err
		}
		printVersion(os.Stdout, "Client", v.Client)
		if v.Server != nil {
			fmt.Println()
			printVersion(os.Stdout, "Server", *v.Server)
		}
		return err
	}
	return cmd
}

func printVersion(w io.Writer, title string, v api.Version) {
	fmt.Fprintf(w, "%s:\n", title)
	t := table(w)
	fmt.Fprintf(t, " Version:\t%s\n", v.Version)
	fmt.Fprintf(t, " API version:\t%s\n", v.APIVersion)
	fmt.Fprintf(t, " Go version:\t%s\n", v.GoVersion)
	fmt.Fprintf(t, " Git commit:\t%s\n", dash(v.GitCommit))
	fmt.Fprintf(t, " Commit time:\t%s\n", dash(v.BuildTime))
	fmt.Fprintf(t, " OS/Arch:\t%s/%s\n", v.Os, v.Arch)
	_ = t.Flush()
}
