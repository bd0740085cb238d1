package cniplugin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weftnet/weft/daemon/api"
)

// errPluginNotAvailable is CNI 1.1.0's STATUS error: the plugin cannot
// serve ADD now.
const errPluginNotAvailable uint = 50

// cniError turns an error of weftd's API, got while doing what, into a
// CNI error whose message says what to do: start weftd, or fix what weftd
// refused.
func cniError(c *Config, what string, err error) *types.Error {
	var refused *api.StatusError
	switch {
	case errors.Is(err, api.ErrNotRunning):
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf(
			`weft: %s: weftd is not running (nothing answers at %s): start weftd (systemctl start weftd), or set "socket" in CNI network %q's configuration to the socket weftd listens on`,
			what, c.host(), c.Name), "")
	case !errors.As(err, &refused):
		return types.NewError(types.ErrIOFailure, fmt.Sprintf("weft: %s: %v", what, err), "")
	case refused.Status == http.StatusServiceUnavailable:
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("weft: %s: weftd cannot now: %s; try again", what, refused.Message), "")
	case strings.Contains(refused.Message, `unknown field "Publish"`):
		return types.NewError(types.ErrUnsupportedField, fmt.Sprintf(
			"weft: %s: this weftd cannot publish ports: upgrade weftd, or take the portMappings capability out of CNI network %q's configuration", what, c.Name), "")
	}
	return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("weft: %s: weftd refused: %s", what, refused.Message), "")
}

// isNotFound reports whether weftd answered that what was asked for does
// not exist.
func isNotFound(err error) bool {
	var refused *api.StatusError
	return errors.As(err, &refused) && refused.Status == http.StatusNotFound
}

// noNetwork is ADD's error for a configuration that names a network weftd
// does not know.
func noNetwork(c *Config) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf(
		`weft: network %q does not exist: create it on a manager with 'weft network create --attachable %s', or correct "network" in CNI network %q's configuration; nothing was attached`,
		c.Network, c.Network, c.Name), "")
}

// noNetns is ADD's error for a namespace that is not there.
func noNetns(netns string, err error) *types.Error {
	return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf(
		"weft: network namespace %s is gone (%v): the container stopped or its namespace was removed before ADD; nothing was attached", netns, err), "")
}
