package links

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/weftnet/weft/tap"
)

// TAPs opens networks' TAP devices, on their bridges, the way weftd is
// configured.
type TAPs struct {
	// Driver is "linux" (batched reads; persistent, optionally offloaded
	// and multi-queue TAPs) or "water" (the portable path: one frame per
	// call, a TAP that goes with weftd's descriptor).
	Driver string
	// Offload asks the linux driver for virtio-net headers and TCP
	// segmentation and checksum offload.
	Offload bool
	// Queues is how many queues a linux TAP has.
	Queues int
	// Batch is the most frames one read moves.
	Batch int
	Log   *slog.Logger
	// Refused, if set, is told when the kernel refused a TAP's offloads
	// (err) and the TAP was opened without them.
	Refused func(tap string, err error)
}

// Open makes, or adopts, the bridge and the TAP of a network (named
// network in logs) with VNI vni and the given MTU, and puts the TAP on the bridge. It returns the
// TAP's queues and a function that closes them and removes what Open made:
// a bridge or TAP an earlier run left stays, so that a failed restore
// never takes containers' links away.
func (t *TAPs) Open(network string, vni uint32, mtu int) ([]tap.Device, func(), error) {
	bridge, name := BridgeName(vni), TAPName(vni)
	br, madeBridge, err := EnsureBridge(bridge, mtu)
	if err != nil {
		if madeBridge {
			_ = Delete(bridge)
		}
		return nil, nil, err
	}
	adopted := Exists(name) && t.Driver != "water"
	devs, err := t.open(name)
	undo := func() {
		for _, dev := range devs {
			dev.Close()
		}
		if !adopted {
			_ = DeleteTAP(name)
		}
		if madeBridge {
			_ = Delete(bridge)
		}
	}
	if err != nil {
		undo()
		return nil, nil, fmt.Errorf("open TAP: %w", err)
	}
	if err := Enslave(devs[0].Name(), br, mtu); err != nil {
		undo()
		return nil, nil, err
	}
	t.Log.Debug("TAP open", "network", network, "tap", name, "adopted", adopted, "queues", len(devs))
	return devs, undo, nil
}

// Remove deletes the TAP (which persists, so closing it is not enough) and
// the bridge of the network with VNI vni.
func Remove(vni uint32) error {
	return errors.Join(DeleteTAP(TAPName(vni)), Delete(BridgeName(vni)))
}

// open opens a network's TAP with the configured driver.
func (t *TAPs) open(name string) ([]tap.Device, error) {
	if t.Driver == "water" {
		return t.openWater(name)
	}
	opts := []tap.Option{tap.WithBatchSize(t.Batch), tap.WithPersist()}
	if !t.Offload {
		return t.openQueues(name, opts)
	}
	return openOffloaded(name, func(offload bool) ([]tap.Device, error) {
		if offload {
			return t.openQueues(name, append(opts, tap.WithOffload()))
		}
		return t.openQueues(name, opts)
	}, t.Refused)
}

// openOffloaded opens the TAP name with open, with its offloads or, where
// the kernel refuses them, without; refused (if not nil) is told once the
// TAP is open without them. When it cannot be opened at all, that error
// is returned and nothing is reported.
func openOffloaded(name string, open func(offload bool) ([]tap.Device, error), refused func(string, error)) ([]tap.Device, error) {
	devs, err := open(true)
	if err == nil {
		return devs, nil
	}
	devs, plainErr := open(false)
	if plainErr != nil {
		return nil, plainErr
	}
	if refused != nil {
		refused(name, err)
	}
	return devs, nil
}

// openWater opens a TAP through water. A persistent TAP of that name left
// by the linux driver is deleted first: water would attach to it with the
// offloads that driver turned on, which water cannot turn off.
func (t *TAPs) openWater(name string) ([]tap.Device, error) {
	if Exists(name) {
		t.Log.Info("deleting the TAP an earlier run left; the water driver makes its own", "tap", name)
		if err := DeleteTAP(name); err != nil {
			return nil, err
		}
	}
	dev, err := tap.OpenWater(name)
	if err != nil {
		return nil, err
	}
	return []tap.Device{dev}, nil
}

// openQueues opens the TAP's queues, attaching to the TAP an earlier run
// left. One that cannot be attached to with this run's flags (it was made
// with another --queues: multi-queue or not) is deleted and made afresh.
func (t *TAPs) openQueues(name string, opts []tap.Option) ([]tap.Device, error) {
	devs, err := t.openQueuesOnce(name, opts)
	if !errors.Is(err, tap.ErrIncompatible) {
		return devs, err
	}
	t.Log.Warn("the existing TAP cannot be attached with this run's flags; deleting it and making a new one", "tap", name, "queues", t.Queues, "err", err)
	if err := DeleteTAP(name); err != nil {
		return nil, err
	}
	return t.openQueuesOnce(name, opts)
}

// openQueuesOnce opens the TAP's queues: a multi-queue TAP when there are
// several.
func (t *TAPs) openQueuesOnce(name string, opts []tap.Option) ([]tap.Device, error) {
	if t.Queues <= 1 {
		dev, err := tap.Open(name, opts...)
		if err != nil {
			return nil, err
		}
		return []tap.Device{dev}, nil
	}
	qs, err := tap.OpenQueues(name, t.Queues, opts...)
	if err != nil {
		return nil, err
	}
	devs := make([]tap.Device, len(qs))
	for i, q := range qs {
		devs[i] = q
	}
	return devs, nil
}
