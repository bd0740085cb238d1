package tap

import (
	"io"

	"golang.org/x/sys/unix"
)

// readState carries one Read call's arguments and results through the poller
// to readBatch.
type readState struct {
	bufs   [][]byte
	sizes  []int
	offset int
	n      int
	err    error
}

// writeState carries one Write call's arguments and results through the
// poller to writeBatch.
type writeState struct {
	bufs   [][]byte
	offset int
	n      int
	err    error
}

// Read reads up to min(len(bufs), BatchSize()) frames: it waits for the first,
// then takes every further frame the kernel already has queued. See
// Device.Read for the contract.
func (d *Linux) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if err := checkRead(bufs, sizes, offset); err != nil {
		return 0, d.wrap("read", err)
	}
	if offset < d.hdrLen() {
		return 0, d.wrap("read", ErrBadOffset)
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	d.rmu.Lock()
	defer d.rmu.Unlock()
	s := &d.rd
	*s = readState{bufs: bufs[:min(len(bufs), d.batch)], sizes: sizes, offset: offset}
	err := d.rc.Read(d.readFn)
	n := s.n
	if err == nil {
		err = s.err
	}
	*s = readState{} // hold no caller buffer
	if n == 0 && err != nil {
		return 0, d.wrap("read", err)
	}
	return n, nil
}

// readBatch reads frames until the batch is full or the kernel has no more.
// It returns false, asking the poller to wait, only while no frame is read.
// An error after the first frame ends the batch and is left for the next Read.
func (d *Linux) readBatch(fd uintptr) bool {
	s := &d.rd
	hdr := d.hdrLen()
	for s.n < len(s.bufs) {
		b := s.bufs[s.n][s.offset-hdr:]
		m, err := unix.Read(int(fd), b)
		switch err {
		case nil:
			s.sizes[s.n] = max(clampSize(m, len(b))-hdr, 0)
			s.n++
		case unix.EINTR:
		case unix.EAGAIN:
			return s.n > 0
		default:
			if s.n == 0 {
				s.err = err
			}
			return true
		}
	}
	return true
}

// Write writes the frames bufs[i][offset:] in order, waiting through the
// poller whenever the kernel pushes back. See Device.Write for the contract.
func (d *Linux) Write(bufs [][]byte, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	s := &d.wr
	*s = writeState{bufs: bufs, offset: offset}
	err := d.rc.Write(d.writeFn)
	n := s.n
	if err == nil {
		err = s.err
	}
	*s = writeState{} // hold no caller buffer
	if err != nil {
		return n, d.wrap("write", err)
	}
	return n, nil
}

// writeBatch writes frames until all are written or one fails. It returns
// false, asking the poller to wait, when the kernel returns EAGAIN.
func (d *Linux) writeBatch(fd uintptr) bool {
	s := &d.wr
	for s.n < len(s.bufs) {
		b := s.bufs[s.n]
		hdr := d.hdrLen()
		if !roomAt(b, s.offset) || s.offset < hdr {
			s.err = ErrBadOffset
			return true
		}
		m, err := unix.Write(int(fd), b[s.offset-hdr:]) // with the caller's virtio-net header
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return false
		case err != nil:
			s.err = err
			return true
		case m != len(b)-s.offset+hdr:
			s.err = io.ErrShortWrite
			return true
		default:
			s.n++
		}
	}
	return true
}

// hdrLen is the length of the header in front of every frame.
func (d *Linux) hdrLen() int {
	if d.offloads != 0 {
		return VnetHdrLen
	}
	return 0
}
