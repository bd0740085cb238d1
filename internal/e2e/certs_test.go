package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// renewalWatch is how long TestCertRenewalKeepsTheClusterUp watches a
// cluster whose certificates live a minute: four lifetimes, so several
// renewals on every node.
const renewalWatch = 250 * time.Second

// pingTime reads the timestamp ping -D prints before each reply.
var pingTime = regexp.MustCompile(`^\[(\d+\.\d+)\] \d+ bytes from`)

// TestCertRenewalKeepsTheClusterUp: a cluster initialised with
// --cert-expiry 1m renews its certificates every forty seconds or so; for
// over four minutes a ping across it never stops for more than 2 s, every
// node accepts an attach every half minute, and every node renews its
// certificate several times. Without renewal the certificates expire
// after a minute and every 2377 call fails.
func TestCertRenewalKeepsTheClusterUp(t *testing.T) {
	if os.Getenv("WEFT_E2E_WEFTD_ARGS") != "" {
		t.Skip("a control-plane test: the integration pass with weftd's default data path runs it")
	}
	lab := newLab(t, "we2e-cert")
	h1, h2 := host(t, lab, "h1", 1), host(t, lab, "h2", 2)
	token := tokenRE.FindString(cli(t, h1, "cluster", "init", "--default-addr-pool", "198.19.0.0/16", "--cert-expiry", "1m"))
	cli(t, h2, "cluster", "join", "--token", token, h1.IP.String()+":2377")
	cli(t, h1, "network", "create", "--attachable", "certs")
	c1 := container(t, h1, "r1", "certs", "")
	container(t, h2, "r2", "certs", "")
	ip2 := inspectContainers(t, h2, "certs")[0]
	ping(t, c1, ip2)

	pingLog := filepath.Join(t.TempDir(), "ping.log")
	secs := strconv.Itoa(int(renewalWatch / time.Second))
	cmd, err := lab.Start(c1, pingLog, "ping", "-D", "-i", "0.2", "-W", "1", "-w", secs, ip2)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; time.Since(start) < renewalWatch-10*time.Second; i++ {
		for _, h := range []*nstest.Weftd{h1, h2} {
			ns := container(t, h, fmt.Sprintf("%s-a%d", h.Name, i), "certs", "")
			cli(t, h, "detach", "--network", "certs", ns)
		}
		time.Sleep(30 * time.Second) // the pace of the attaches, not a wait for a condition
	}
	if err := cmd.Wait(); err != nil {
		t.Logf("ping: %v", err)
	}
	out, err := os.ReadFile(pingLog)
	if err != nil {
		t.Fatal(err)
	}
	gap, replies := longestGap(string(out))
	t.Logf("ping across the cluster for %v: %d replies, longest gap %v", renewalWatch, replies, gap)
	if gap > 2*time.Second || replies < int(renewalWatch/time.Second) {
		t.Errorf("ping across the cluster for %v: %d replies, longest gap %v; want no gap over 2s", renewalWatch, replies, gap)
	}
	for _, h := range []*nstest.Weftd{h1, h2} {
		log, _ := os.ReadFile(h.Log)
		n := strings.Count(string(log), "node certificate renewed")
		t.Logf("%s renewed its certificate %d times", h.Name, n)
		if n < 4 {
			t.Errorf("%s renewed its certificate %d times in %v; want at least 4 (a 1m certificate renews when 20 s are left)", h.Name, n, renewalWatch)
		}
	}
}

// longestGap returns the longest time between consecutive replies in ping
// -D output (from the start of the output to the first reply too), and
// how many replies there were.
func longestGap(out string) (time.Duration, int) {
	var last, gap float64
	replies := 0
	for _, line := range strings.Split(out, "\n") {
		m := pingTime.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, _ := strconv.ParseFloat(m[1], 64)
		if replies > 0 {
			gap = max(gap, at-last)
		}
		last = at
		replies++
	}
	return time.Duration(gap * float64(time.Second)), replies
}
