//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// hostStep is one command of a README tutorial and the host it runs on.
type hostStep struct {
	host int // 1-based
	args []string
}

var onHost = regexp.MustCompile(`^# on host(\d+)\b`)

// tutorialSteps reads the shell block between a README's
// <!-- NAME:begin --> and <!-- NAME:end --> markers: "# on hostN" lines
// say where the commands after them run; other comments and blank lines
// are skipped. Each command is its words, with no shell quoting, and must
// be one of tools.
func tutorialSteps(readme, name string, tools ...string) ([]hostStep, error) {
	_, rest, ok := strings.Cut(readme, "<!-- "+name+":begin -->")
	if !ok {
		return nil, fmt.Errorf("README has no <!-- %s:begin --> marker", name)
	}
	block, _, ok := strings.Cut(rest, "<!-- "+name+":end -->")
	if !ok {
		return nil, fmt.Errorf("README has no <!-- %s:end --> marker", name)
	}
	_, code, ok := strings.Cut(block, "```sh\n")
	if !ok {
		return nil, fmt.Errorf("no ```sh block between the %s markers", name)
	}
	code, _, _ = strings.Cut(code, "```")
	var steps []hostStep
	host := 0
	for line := range strings.Lines(code) {
		line = strings.TrimSpace(line)
		if m := onHost.FindStringSubmatch(line); m != nil {
			host, _ = strconv.Atoi(m[1])
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		args := strings.Fields(line)
		if host == 0 {
			return nil, fmt.Errorf("%s: %q comes before any # on hostN line", name, line)
		}
		if !slices.Contains(tools, args[0]) || strings.ContainsAny(line, `'"$|;&<>`) {
			return nil, fmt.Errorf("%s: %q is not a plain %v command the test can run", name, line, tools)
		}
		steps = append(steps, hostStep{host, args})
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("no commands in the %s block", name)
	}
	return steps, nil
}

func readmeSteps(t *testing.T, name string, tools ...string) []hostStep {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := tutorialSteps(string(readme), name, tools...)
	if err != nil {
		t.Fatal(err)
	}
	return steps
}

// checkStep fails the test when a step failed or a ping in it lost
// packets.
func checkStep(t *testing.T, s hostStep, out string, err error) {
	t.Helper()
	if err == nil && slices.Contains(s.args, "ping") && !strings.Contains(out, " 0% packet loss") {
		err = errors.New("packets lost")
	}
	if err != nil {
		t.Fatalf("README step on host%d, %s: %v\n%s", s.host, strings.Join(s.args, " "), err, out)
	}
}

// The README's Docker tutorial works as written: its commands run, on the
// hosts it names, against two lab hosts' dockerd with weftd serving them
// the plugin and Docker's DNS, set up as the README says, in a cluster of
// the two; the image alpine is busybox.
func TestReadmeDocker(t *testing.T) {
	skipOnOtherDataPath(t)
	steps := readmeSteps(t, "docker-tutorial", "docker", "weft")
	lab := newLab(t, "wdrm")
	nodes := dockerDNSCluster(t, lab, 2) // weftd --docker-dns and daemon.json "dns", as the README says
	for _, nd := range nodes {
		if err := nd.d.ImportBusybox("alpine"); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range steps {
		if s.host > len(nodes) {
			t.Fatalf("README step %v runs on host%d; the lab has %d", s.args, s.host, len(nodes))
		}
		nd := nodes[s.host-1]
		var out string
		var err error
		switch {
		case s.args[0] == "weft":
			out, err = nd.w.CLI(s.args[1:]...)
		case s.args[1] == "run":
			// The network reaches this host's engine within 2 s.
			if i := slices.Index(s.args, "--network"); i > 0 && i+1 < len(s.args) {
				poll.Wait(2*time.Second, func() bool { return slices.Contains(dockerNetworks(nd.d), s.args[i+1]) })
			}
			out, err = nd.d.Docker(s.args[1:]...)
		default:
			out, err = nd.d.Docker(s.args[1:]...)
		}
		checkStep(t, s, out, err)
	}
}

// The README's CNI tutorial works as written, with Podman 4.3 on its CNI
// backend on two lab hosts, configured from dist/weft.conflist as the
// README says; the image alpine is busybox.
func TestReadmeCNI(t *testing.T) {
	skipOnOtherDataPath(t)
	requireRoot(t)
	requireTools(t, "podman", "nsenter", "/bin/busybox", "/usr/lib/cni/loopback")
	steps := readmeSteps(t, "cni-tutorial", "podman", "weft")
	lab := newLab(t, "wcrm")
	hosts := newCluster(t, lab, 2)
	plugins := cniPluginDir(t)
	image := busyboxTar(t)
	var pods []*podmanHost
	for _, d := range hosts {
		p := newPodmanHost(t, d, plugins, "appnet")
		if out, err := p.run(image, "import", "-", "alpine"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		pods = append(pods, p)
	}
	for _, s := range steps {
		if s.host > len(hosts) {
			t.Fatalf("README step %v runs on host%d; the lab has %d", s.args, s.host, len(hosts))
		}
		var out string
		var err error
		if s.args[0] == "weft" {
			out, err = hosts[s.host-1].CLI(s.args[1:]...)
		} else {
			out, err = pods[s.host-1].run("", s.args[1:]...)
		}
		checkStep(t, s, out, err)
	}
}
