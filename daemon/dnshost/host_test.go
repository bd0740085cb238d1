package dnshost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolvConfLifecycle(t *testing.T) {
	etcNetns = t.TempDir()
	t.Cleanup(func() { etcNetns = "/etc/netns" })

	if got, err := writeResolvConf("/proc/123/ns/net"); got != "" || err != nil {
		t.Errorf("namespace by path: wrote %q, %v; want nothing", got, err)
	}
	path, err := writeResolvConf("/run/netns/c1")
	if err != nil || path != filepath.Join(etcNetns, "c1", "resolv.conf") {
		t.Fatalf("writeResolvConf(/run/netns/c1) = %q, %v", path, err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "\nnameserver 127.0.0.11\n") {
		t.Errorf("resolv.conf:\n%s\nwant nameserver 127.0.0.11", b)
	}
	if again, err := writeResolvConf("/run/netns/c1"); again != path || err != nil {
		t.Errorf("rewrite of our own file: %q, %v", again, err)
	}
	removeResolvConf(path)
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("directory left after remove: %v", err)
	}

	foreign := filepath.Join(etcNetns, "c2", "resolv.conf")
	if err := os.MkdirAll(filepath.Dir(foreign), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(foreign, []byte("nameserver 198.18.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := writeResolvConf("/run/netns/c2"); got != "" || err == nil {
		t.Errorf("over a foreign resolv.conf: %q, %v; want it left alone with an error", got, err)
	}
	removeResolvConf(foreign)
	if b, _ := os.ReadFile(foreign); string(b) != "nameserver 198.18.0.53\n" {
		t.Errorf("foreign resolv.conf changed to %q", b)
	}
}

func TestForgetNamespace(t *testing.T) {
	etcNetns = t.TempDir()
	t.Cleanup(func() { etcNetns = "/etc/netns" })
	path, err := writeResolvConf("/run/netns/gone")
	if err != nil {
		t.Fatal(err)
	}
	ForgetNamespace("/proc/1/ns/net") // not a named namespace: nothing to do
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("resolv.conf of another namespace removed: %v", err)
	}
	ForgetNamespace("/run/netns/gone")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("resolv.conf of a gone namespace left: %v", err)
	}
}
