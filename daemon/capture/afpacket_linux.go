package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"golang.org/x/sys/unix"
)

// afPacket captures every frame an interface receives or sends, through an
// AF_PACKET socket that the Go runtime polls. pcapgo.EthernetHandle blocks
// its thread in recvmsg, where no deadline and no Close can reach it, so a
// capture of a quiet bridge could never be stopped; this one can.
type afPacket struct {
	f       *os.File
	rc      syscall.RawConn
	ifindex int
	oob     []byte // control messages: the kernel's timestamp of each frame
	dropped uint64 // summed from PACKET_STATISTICS, which resets on each read
}

var _ Source = (*afPacket)(nil)

// OpenAFPacket starts capturing on ifname, in promiscuous mode: a bridge
// passes up to its own device only the frames addressed to it otherwise,
// while in promiscuous mode it passes up a copy of every frame it forwards.
// The promiscuous membership ends with the socket.
func OpenAFPacket(ifname string) (Source, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	// Protocol 0 receives nothing until bind names the protocol and the
	// interface, so that no frame of another interface slips in between.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	if err := setupAFPacket(fd, ifi.Index); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "capture "+ifname) // pollable: the fd is non-blocking
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &afPacket{f: f, rc: rc, ifindex: ifi.Index, oob: make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))}, nil
}

func setupAFPacket(fd, ifindex int) error {
	all := htons(unix.ETH_P_ALL)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: all, Ifindex: ifindex}); err != nil {
		return fmt.Errorf("bind packet socket: %w", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fmt.Errorf("promiscuous mode: %w", err)
	}
	// Without kernel timestamps, frames are stamped when read.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ReadPacket implements Source.
func (a *afPacket) ReadPacket(buf []byte) (gopacket.CaptureInfo, error) {
	var n, oobn int
	var rerr error
	err := a.rc.Read(func(fd uintptr) bool {
		// MSG_TRUNC: n is the frame's length even when buf is shorter.
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, a.oob, unix.MSG_TRUNC)
		return !errors.Is(rerr, unix.EAGAIN) && !errors.Is(rerr, unix.EINTR)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return gopacket.CaptureInfo{}, fmt.Errorf("read packet: %w", err)
	}
	return gopacket.CaptureInfo{
		Timestamp: a.timestamp(a.oob[:oobn]), Length: n, CaptureLength: min(n, len(buf)), InterfaceIndex: a.ifindex,
	}, nil
}

// timestamp returns the kernel's time of a frame from its control
// messages, or now if there is none.
func (a *afPacket) timestamp(oob []byte) time.Time {
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(ts.Unix())
		}
	}
	return time.Now()
}

// SetDeadline implements Source.
func (a *afPacket) SetDeadline(t time.Time) error { return a.f.SetReadDeadline(t) }

// Dropped implements Source.
func (a *afPacket) Dropped() uint64 {
	_ = a.rc.Control(func(fd uintptr) {
		if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			a.dropped += uint64(st.Drops)
		}
	})
	return a.dropped
}

// Close implements Source.
func (a *afPacket) Close() error { return a.f.Close() }
