package cniplugin

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/weftnet/weft/daemon/api"
)

// Config is the plugin's network configuration, as the runtime gives it on
// stdin.
type Config struct {
	types.PluginConf
	// Network names the weft network to attach to (required).
	Network string `json:"network"`
	// Socket is the path of weftd's API socket; empty: api.DefaultHost's.
	Socket string `json:"socket,omitempty"`
	// RuntimeConfig holds what the runtime passes for the capabilities
	// the configuration declares (CNI's conventions).
	RuntimeConfig RuntimeConfig `json:"runtimeConfig"`
}

// RuntimeConfig is the part of the configuration the runtime fills in per
// container, for the capabilities "ips", "aliases" and "portMappings".
type RuntimeConfig struct {
	IPs          []string            `json:"ips,omitempty"`          // a requested address, "A" or "A/LEN"
	Aliases      map[string][]string `json:"aliases,omitempty"`      // DNS names, by CNI network name
	PortMappings []PortMapping       `json:"portMappings,omitempty"` // ports to publish on the host
}

// PortMapping is one port the runtime asks to publish.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"` // "tcp" (default) or "udp"
	HostIP        string `json:"hostIP,omitempty"`
}

// parseConfig reads the configuration and checks what the plugin needs of
// it; its errors are CNI errors.
func parseConfig(stdin []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "weft: cannot parse the network configuration: "+err.Error(), "")
	}
	if c.Network == "" {
		return nil, types.NewError(types.ErrInvalidNetworkConfig,
			fmt.Sprintf(`weft: the configuration of CNI network %q has no "network": name the weft network to attach to (weft network ls lists them)`, c.Name), "")
	}
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.PluginConf); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "weft: cannot parse prevResult: "+err.Error(), "")
		}
	}
	return &c, nil
}

// host is weftd's API address for the configuration.
func (c *Config) host() string {
	if c.Socket == "" {
		return api.DefaultHost
	}
	return "unix://" + c.Socket
}

// attachRequest builds the attach request for a container, with the
// ports to publish: its namespace, interface name and ID from the
// runtime, its name from the CNI args (K8S_POD_NAME), and the address,
// aliases and port mappings the runtime config asks for.
func (c *Config) attachRequest(containerID, netns, ifName, cniArgs string) (api.Attach, []string, error) {
	req := api.Attach{Network: c.Network, Netns: netns, IfName: ifName, ContainerID: containerID,
		Name: argValue(cniArgs, "K8S_POD_NAME"), Aliases: c.aliases()}
	var err error
	if req.IP, err = c.requestedIP(argValue(cniArgs, "IP")); err != nil {
		return api.Attach{}, nil, err
	}
	publish, err := c.publish()
	if err != nil {
		return api.Attach{}, nil, err
	}
	return req, publish, nil
}

// aliases returns the DNS names the runtime asks for on this network:
// those filed under the CNI network's name, as CNI's conventions say, or
// under the weft network's.
func (c *Config) aliases() []string {
	if a, ok := c.RuntimeConfig.Aliases[c.Name]; ok {
		return a
	}
	return c.RuntimeConfig.Aliases[c.Network]
}

// requestedIP returns the one IPv4 address asked for, by runtimeConfig.ips
// or the IP CNI arg, without its prefix length; "" when none is.
func (c *Config) requestedIP(arg string) (string, error) {
	asked := c.RuntimeConfig.IPs
	if arg != "" {
		asked = append(asked, arg)
	}
	var got []netip.Addr
	for _, s := range asked {
		a, err := parseAddr(s)
		if err != nil {
			return "", types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("weft: invalid requested address %q: %v", s, err), "")
		}
		if !a.Is4() {
			return "", types.NewError(types.ErrUnsupportedField, fmt.Sprintf("weft: requested address %s: weft networks are IPv4 only", a), "")
		}
		if len(got) > 0 && got[0] != a {
			return "", types.NewError(types.ErrUnsupportedField, fmt.Sprintf("weft: %s and %s are requested: a weft attachment has one address", got[0], a), "")
		}
		got = append(got, a)
	}
	if len(got) == 0 {
		return "", nil
	}
	return got[0].String(), nil
}

// parseAddr parses "A" or "A/LEN".
func parseAddr(s string) (netip.Addr, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr(), nil
	}
	return netip.ParseAddr(s)
}

// publish turns the runtime's port mappings into weft's HOSTPORT:PORT/proto
// form.
func (c *Config) publish() ([]string, error) {
	var out []string
	for _, m := range c.RuntimeConfig.PortMappings {
		proto := strings.ToLower(m.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		switch {
		case proto != "tcp" && proto != "udp":
			return nil, types.NewError(types.ErrUnsupportedField, fmt.Sprintf("weft: port mapping %d:%d: protocol %q: weft publishes tcp and udp", m.HostPort, m.ContainerPort, m.Protocol), "")
		case !validPort(m.HostPort) || !validPort(m.ContainerPort):
			return nil, types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("weft: port mapping %d:%d: ports are 1 to 65535", m.HostPort, m.ContainerPort), "")
		case m.HostIP != "" && m.HostIP != "0.0.0.0" && m.HostIP != "::":
			return nil, types.NewError(types.ErrUnsupportedField, fmt.Sprintf("weft: port mapping %d:%d: hostIP %s: weft publishes on every host address; leave hostIP empty", m.HostPort, m.ContainerPort, m.HostIP), "")
		}
		out = append(out, strconv.Itoa(m.HostPort)+":"+strconv.Itoa(m.ContainerPort)+"/"+proto)
	}
	return out, nil
}

func validPort(p int) bool { return p > 0 && p < 1<<16 }

// argValue returns the value of key in CNI_ARGS ("K1=V1;K2=V2"), or "".
func argValue(args, key string) string {
	for _, kv := range strings.Split(args, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
