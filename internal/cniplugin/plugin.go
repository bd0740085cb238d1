package cniplugin

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/weftnet/weft/daemon/api"
)

// Versions are the CNI spec versions the plugin speaks; GC and STATUS
// come with 1.1.0.
var Versions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

// About is what VERSION prints beside the versions.
const About = "weft: attaches containers to weft overlay networks through the local weftd"

// timeout bounds one command: an attach waits for the managers' address
// allocation, which weftd bounds at 30 s.
const timeout = 45 * time.Second

// Funcs returns the plugin's commands, writing results to out (the
// runtime reads them from the plugin's stdout).
func Funcs(out io.Writer) skel.CNIFuncs {
	p := plugin{out: out}
	return skel.CNIFuncs{Add: withWeftd(p.add), Del: withWeftd(p.del), Check: withWeftd(p.check), GC: withWeftd(p.gc), Status: withWeftd(p.status)}
}

// plugin runs one command.
type plugin struct {
	out io.Writer
}

// command is one CNI command, given the runtime's arguments, the parsed
// configuration and a client of weftd, within a bounded time.
type command func(ctx context.Context, args *skel.CmdArgs, c *Config, cl *api.Client) error

// withWeftd parses the configuration and connects to weftd before cmd
// runs.
func withWeftd(cmd command) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		c, err := parseConfig(args.StdinData)
		if err != nil {
			return err
		}
		cl, err := api.NewClient(c.host())
		if err != nil {
			return types.NewError(types.ErrInvalidNetworkConfig, `weft: invalid "socket": `+err.Error(), "")
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return cmd(ctx, args, c, cl)
	}
}

// add attaches the container's namespace and prints the result. On error
// nothing is left attached.
func (p plugin) add(ctx context.Context, args *skel.CmdArgs, c *Config, cl *api.Client) error {
	if _, err := os.Stat(args.Netns); err != nil {
		return noNetns(args.Netns, err)
	}
	n, err := cl.Network(ctx, c.Network)
	switch {
	case isNotFound(err):
		return noNetwork(c)
	case err != nil:
		return cniError(c, "look up network "+c.Network, err)
	}
	req, publish, err := c.attachRequest(args.ContainerID, args.Netns, args.IfName, args.Args)
	if err != nil {
		return err
	}
	req.Publish = publish
	ep, err := cl.Attach(ctx, req)
	if err != nil {
		return p.attachFailed(c, cl, args, err)
	}
	res, err := buildResult(args.Netns, ep, n)
	if err == nil {
		var vr types.Result
		if vr, err = res.GetAsVersion(c.CNIVersion); err == nil {
			err = vr.PrintTo(p.out)
		}
	}
	if err != nil {
		_ = cl.Detach(ctx, api.Detach{Network: c.Network, ContainerID: args.ContainerID})
		return types.NewError(types.ErrInternal, "weft: attached, but cannot report it, so detached again: "+err.Error(), "")
	}
	return nil
}

// attachFailed explains a failed attach: a namespace gone meanwhile is
// said as such; anything else as weftd said it. When the answer was lost
// (not a refusal), weftd may have attached the container all the same,
// so it is detached again.
func (plugin) attachFailed(c *Config, cl *api.Client, args *skel.CmdArgs, err error) error {
	var refused *api.StatusError
	if !errors.As(err, &refused) && !errors.Is(err, api.ErrNotRunning) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = cl.Detach(ctx, api.Detach{Network: c.Network, ContainerID: args.ContainerID})
	}
	if _, serr := os.Stat(args.Netns); serr != nil {
		return noNetns(args.Netns, serr)
	}
	return cniError(c, "attach container "+args.ContainerID+" to "+c.Network, err)
}

// del detaches the container by its ID. A container weftd does not have
// on the network (already deleted, never added, or its network gone) is
// not an error: DEL may be repeated.
func (plugin) del(ctx context.Context, args *skel.CmdArgs, c *Config, cl *api.Client) error {
	err := cl.Detach(ctx, api.Detach{Network: c.Network, ContainerID: args.ContainerID})
	if err != nil && !isNotFound(err) {
		return cniError(c, "detach container "+args.ContainerID+" from "+c.Network, err)
	}
	return nil
}

// status reports whether weftd answers and knows the network.
func (plugin) status(ctx context.Context, args *skel.CmdArgs, c *Config, cl *api.Client) error {
	if _, err := cl.Network(ctx, c.Network); err != nil {
		msg := cniError(c, "status", err).Msg
		if isNotFound(err) {
			msg = noNetwork(c).Msg
		}
		return types.NewError(errPluginNotAvailable, msg, "")
	}
	return nil
}
