package poll

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeTB records what Until would fail a test with.
type fakeTB struct{ failed []string }

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
}

var _ TB = (testing.TB)(nil)

func TestUntilConditionThatComesTrue(t *testing.T) {
	var tb fakeTB
	checks := 0
	took := Until(&tb, 5*time.Second, "the third check", func() bool { checks++; return checks == 3 })
	if len(tb.failed) != 0 {
		t.Errorf("Until failed the test: %q; want no failure", tb.failed)
	}
	if checks != 3 {
		t.Errorf("checks: got %d; want 3", checks)
	}
	// Two pauses, of 1 ms and 2 ms.
	if took < 3*time.Millisecond || took > time.Second {
		t.Errorf("took %v; want about 3 ms", took)
	}
}

func TestUntilConditionThatHoldsAtOnce(t *testing.T) {
	var tb fakeTB
	checks := 0
	if took := Until(&tb, time.Nanosecond, "true", func() bool { checks++; return true }); took > time.Second || checks != 1 {
		t.Errorf("Until: took %v, %d checks; want at once, 1 check", took, checks)
	}
	if len(tb.failed) != 0 {
		t.Errorf("Until failed the test: %q; want no failure", tb.failed)
	}
}

func TestUntilConditionThatNeverHolds(t *testing.T) {
	const timeout = 200 * time.Millisecond
	var tb fakeTB
	checks := 0
	start := time.Now()
	var last time.Time
	Until(&tb, timeout, "nothing", func() bool { checks++; last = time.Now(); return false })
	want := "timed out after 200ms waiting for nothing"
	if len(tb.failed) != 1 || tb.failed[0] != want {
		t.Errorf("failures: got %q; want [%q]", tb.failed, want)
	}
	if since := last.Sub(start); since < timeout {
		t.Errorf("last check %v after the start; want one at the deadline, %v", since, timeout)
	}
	// 1+2+4+8+16+32+50+50+50 ms of pauses reach 200 ms: at most ten checks
	// with the one at the deadline, fewer if the pauses ran long.
	if checks < 2 || checks > 10 {
		t.Errorf("checks in %v: got %d; want 2 to 10 (pauses that double up to %v)", timeout, checks, maxPause)
	}
}

func TestWait(t *testing.T) {
	if !Wait(time.Second, func() bool { return true }) {
		t.Errorf("Wait(true) = false; want true")
	}
	checks := 0
	if Wait(10*time.Millisecond, func() bool { checks++; return false }) {
		t.Errorf("Wait(false) = true; want false")
	}
	if checks < 2 {
		t.Errorf("Wait(false) checked %d times; want at least 2 (at once and at the deadline)", checks)
	}
}

// parkOn blocks on c, for TestParked.
func parkOn(c chan struct{}) { <-c }

func TestParked(t *testing.T) {
	c := make(chan struct{})
	done := make(chan struct{})
	go func() {
		parkOn(c)
		close(done)
	}()
	Until(t, 5*time.Second, "parkOn to block", Parked("chan receive", "poll.parkOn"))
	for _, tt := range []struct{ reason, fn string }{
		{"select", "poll.parkOn"},        // another reason
		{"chan receive", "oll.parkOn"},   // part of a name
		{"chan receive", "poll.parkOff"}, // another function
	} {
		if Parked(tt.reason, tt.fn)() {
			t.Errorf("Parked(%q, %q) = true; want false", tt.reason, tt.fn)
		}
	}
	close(c)
	<-done
	Until(t, 5*time.Second, "parkOn to return", func() bool { return !Parked("chan receive", "poll.parkOn")() })
}

func TestParkedFor(t *testing.T) {
	for _, tt := range []struct{ header, want string }{
		{"goroutine 7 [IO wait]:", "IO wait"},
		{"goroutine 7 [IO wait, 2 minutes]:", "IO wait"},
		{"goroutine 1 [chan receive (nil chan)]:", "chan receive (nil chan)"},
		{"goroutine 9 [select, locked to thread]:", "select"},
		{"goroutine 3 [running]:", "running"},
		{"no header", ""},
	} {
		if got := parkedFor(tt.header); got != tt.want {
			t.Errorf("parkedFor(%q): got %q; want %q", tt.header, got, tt.want)
		}
	}
}

func TestCalls(t *testing.T) {
	frames := strings.Join([]string{
		"internal/poll.runtime_pollWait(0x7f, 0x72)",
		"\t/usr/lib/go/src/runtime/netpoll.go:351 +0x85",
		"github.com/weftnet/weft/encap.(*UDPConn).ReadBatch(0xc000010000, {0xc000100000, 0x1, 0x1}, ...)",
		"\t/work/encap/conn_linux.go:171 +0x7c",
		"created by github.com/weftnet/weft/encap.TestX in goroutine 7",
		"\t/work/encap/conn_test.go:190 +0x1c5",
	}, "\n")
	for _, tt := range []struct {
		fn   string
		want bool
	}{
		{"encap.(*UDPConn).ReadBatch", true},
		{"github.com/weftnet/weft/encap.(*UDPConn).ReadBatch", true},
		{"internal/poll.runtime_pollWait", true},
		{"poll.runtime_pollWait", true},
		{"(*UDPConn).ReadBatch", false}, // not a whole name
		{"encap.TestX", false},          // only created it
		{"encap.(*UDPConn).WriteBatch", false},
	} {
		if got := calls(frames, tt.fn); got != tt.want {
			t.Errorf("calls(%q): got %v; want %v", tt.fn, got, tt.want)
		}
	}
}
