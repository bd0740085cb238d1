//go:build !linux

package links

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

func UnderlayMTU(netip.Addr) (int, error)                  { return 0, errUnsupported }
func DefaultDataAddr() (netip.Addr, error)                 { return netip.Addr{}, errUnsupported }
func EnsureBridge(string, int) (netlink.Link, bool, error) { return nil, false, errUnsupported }
func Enslave(string, netlink.Link, int) error              { return errUnsupported }
func Exists(string) bool                                   { return false }
func Delete(string) error                                  { return errUnsupported }
func DeleteTAP(string) error                               { return errUnsupported }
func BridgePorts(string) ([]string, error)                 { return nil, errUnsupported }
func OpenNetns(string) (netns.NsHandle, string, error)     { return netns.None(), "", errUnsupported }
func NamespaceID(string) (string, error)                   { return "", errUnsupported }
func Plug(string, string, Veth) (string, error)            { return "", errUnsupported }
func Pair(string, Veth) error                              { return errUnsupported }
func LoopbackUp(netns.NsHandle) error                      { return errUnsupported }
func InNetns(netns.NsHandle, func() error) error           { return errUnsupported }
func SetGateway(string, netip.Prefix) error                { return errUnsupported }
