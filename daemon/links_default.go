//go:build !linux

package daemon

import (
	"errors"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// errUnsupported is what every link operation returns off Linux: weftd builds
// everywhere so that the code can be vetted and unit-tested, but it attaches
// containers only on Linux.
var errUnsupported = errors.New("weftd manages links only on Linux")

func underlayMTU(netip.Addr) (int, error)                         { return 0, errUnsupported }
func defaultDataAddr() (netip.Addr, error)                        { return netip.Addr{}, errUnsupported }
func ensureBridge(string, int) (netlink.Link, bool, error)        { return nil, false, errUnsupported }
func enslave(string, netlink.Link, int) error                     { return errUnsupported }
func linkExists(string) bool                                      { return false }
func deleteLink(string) error                                     { return errUnsupported }
func deleteTAP(string) error                                      { return errUnsupported }
func bridgePorts(string) ([]string, error)                        { return nil, errUnsupported }
func openNetns(string) (netns.NsHandle, string, error)            { return netns.None(), "", errUnsupported }
func createVeth(string, containerLink) error                      { return errUnsupported }
func moveIntoNetns(netns.NsHandle, containerLink) (string, error) { return "", errUnsupported }
