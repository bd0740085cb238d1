//go:build linux

// Command demo shows weft's main job on one machine: three hosts made of
// network namespaces, each running weftd, joined into a cluster with init and
// join; one network created once; a container on each host; and the
// containers pinging each other across the userspace VXLAN overlay. It
// removes everything it made when it ends.
//
// Run it as root with `make demo`, or `go run ./internal/demo -bin bin` after
// `make build`.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding weftd and weft")
	prefix := flag.String("prefix", "weftdemo", "prefix of the namespaces the demo makes")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: run as root: it makes network namespaces")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "weft-demo-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	lab, err := nstest.New(*prefix, *bin, dir)
	if err != nil {
		fail(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		lab.Close()
		os.Exit(130)
	}()
	err = demo(lab)
	step("cleaning up: stopping weftd, deleting namespaces")
	if cerr := lab.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		fail(err)
	}
	fmt.Println("\ndemo finished: containers on three hosts of one cluster talked across weft")
}

func demo(lab *nstest.Lab) error {
	step("three hosts on an underlay switch (198.18.0.1-3), each running weftd")
	ds := make([]*nstest.Weftd, 3)
	for i := range ds {
		h, err := lab.Host(fmt.Sprintf("host%d", i+1), netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}))
		if err != nil {
			return err
		}
		if ds[i], err = h.StartWeftd(); err != nil {
			return err
		}
	}
	step("host1 starts a cluster; host2 and host3 join it as workers")
	out, err := showOut(ds[0], "cluster", "init", "--default-addr-pool", "198.19.0.0/16")
	if err != nil {
		return err
	}
	token := tokenRE.FindString(out)
	for _, d := range ds[1:] {
		if err := show(d, "cluster", "join", "--token", token, ds[0].IP.String()+":2377"); err != nil {
			return err
		}
	}
	step("one network, created once, for the whole cluster")
	if err := show(ds[0], "network", "create", "--attachable", "--subnet", "198.19.42.0/24", "demo-net"); err != nil {
		return err
	}
	cs := make([]string, len(ds))
	ips := make([]string, len(ds))
	for i, d := range ds {
		name := fmt.Sprintf("alpine%d", i+1)
		if cs[i], err = lab.Container(name); err != nil {
			return err
		}
		out, err := showOut(d, "attach", "--network", "demo-net", "--name", name, cs[i])
		if err != nil {
			return err
		}
		ips[i] = strings.Split(strings.Fields(out)[1], "/")[0]
	}
	if err := show(ds[1], "node", "ls"); err != nil {
		return err
	}
	err = waitAndPing(cs, ips)
	if err != nil {
		for _, d := range ds {
			fmt.Println(d.Diagnose())
		}
	}
	return err
}

// tokenRE finds the worker join token in `weft cluster init` output.
var tokenRE = regexp.MustCompile(`WEFT-1-[0-9a-f]+-[a-z2-7]+`)

// waitAndPing pings around the ring of containers by name, as in Docker's
// overlay tutorial: 1 → 2, 2 → 3, 3 → 1.
func waitAndPing(cs, ips []string) error {
	for i := range cs {
		j := (i + 1) % len(cs)
		name := fmt.Sprintf("alpine%d", j+1)
		step(fmt.Sprintf("alpine%d (on host%d) pings %s (on host%d) by name across the overlay", i+1, i+1, name, j+1))
		if err := waitResolves(cs[i], name, ips[j]); err != nil {
			return err
		}
		if err := pingShow(cs[i], name); err != nil {
			return err
		}
	}
	return nil
}

// waitResolves waits up to 3 s for name to resolve to ip inside ns, through
// the embedded resolver that the namespace's resolv.conf names.
func waitResolves(ns, name, ip string) error {
	var out string
	var err error
	if poll.Wait(3*time.Second, func() bool {
		out, err = nstest.Exec(ns, "getent", "hosts", name)
		return err == nil && strings.HasPrefix(out, ip+" ")
	}) {
		return nil
	}
	return fmt.Errorf("%s does not resolve to %s in %s: %w %s", name, ip, ns, err, out)
}

// show runs a weft command on a host, printing it and its output.
func show(d *nstest.Weftd, args ...string) error {
	_, err := showOut(d, args...)
	return err
}

func showOut(d *nstest.Weftd, args ...string) (string, error) {
	fmt.Printf("\n[%s]$ weft %s\n", d.Name, strings.Join(args, " "))
	out, err := d.CLI(args...)
	fmt.Print(out)
	return out, err
}

func pingShow(ns, dst string) error {
	fmt.Printf("[%s]$ ping -c 3 %s\n", ns, dst)
	out, err := nstest.Exec(ns, "ping", "-c", "3", "-i", "0.3", "-W", "2", dst)
	fmt.Print(out)
	if err == nil && !strings.Contains(out, " 0% packet loss") {
		err = fmt.Errorf("ping %s from %s lost packets", dst, ns)
	}
	return err
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "demo:", err)
	os.Exit(1)
}
