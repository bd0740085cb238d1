//go:build linux

// Command demo shows weft's main job on one machine: two hosts made of network
// namespaces, each running weftd with one container, pinging each other across
// the userspace VXLAN overlay. It removes everything it made when it ends.
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
	"strings"
	"syscall"

	"github.com/weftnet/weft/internal/nstest"
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
	fmt.Println("\ndemo finished: containers on two hosts talked across weft")
}

func demo(lab *nstest.Lab) error {
	step("two hosts on an underlay switch: host1 198.18.0.1, host2 198.18.0.2, each running weftd")
	var ds [2]*nstest.Weftd
	for i := range ds {
		h, err := lab.Host(fmt.Sprintf("host%d", i+1), netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}))
		if err != nil {
			return err
		}
		if ds[i], err = h.StartWeftd(); err != nil {
			return err
		}
	}
	for i, d := range ds {
		peer := ds[1-i].IP.String()
		if err := show(d, "network", "create", "--vni", "4242", "--peer", peer, "--subnet", "198.19.42.0/24", "demo-net"); err != nil {
			return err
		}
	}
	cs := [2]string{}
	for i, d := range ds {
		name := fmt.Sprintf("alpine%d", i+1)
		ns, err := lab.Container(name)
		if err != nil {
			return err
		}
		cs[i] = ns
		if err := show(d, "attach", "--network", "demo-net", "--ip", fmt.Sprintf("198.19.42.%d", i+2), "--name", name, ns); err != nil {
			return err
		}
	}
	if err := show(ds[0], "network", "ls"); err != nil {
		return err
	}
	step("alpine1 (on host1) pings alpine2 (on host2) across the overlay")
	err := pingShow(cs[0], "198.19.42.3")
	if err == nil {
		step("and back: alpine2 pings alpine1")
		err = pingShow(cs[1], "198.19.42.2")
	}
	if err != nil {
		for _, d := range ds {
			fmt.Println(d.Diagnose())
		}
	}
	return err
}

// show runs a weft command on a host, printing it and its output.
func show(d *nstest.Weftd, args ...string) error {
	fmt.Printf("\n[%s]$ weft %s\n", d.Name, strings.Join(args, " "))
	out, err := d.CLI(args...)
	fmt.Print(out)
	return err
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
